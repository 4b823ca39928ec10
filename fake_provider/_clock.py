"""The fake's one clock: wall time plus an offset the control API can move forward.

Idempotency-key expiry, search lag and fault hit times read :meth:`Clock.now`, so a
test can make a day pass in one call (``POST /_fake/clock {"advance_s": 86400}``)
instead of waiting. The clock only moves forward; a reset puts the offset back to 0.
The offset lives in memory: a restarted fake starts again at wall time.
"""

from __future__ import annotations

import threading
import time

MAX_ADVANCE_S = 10 * 365 * 86400.0
"""The largest single step forward (ten years)."""


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Unix time as the fake sees it: wall time plus every advance so far."""
        return time.time() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the clock is ahead of wall time."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (0 to ten years); return the new offset."""
        if not 0 <= seconds <= MAX_ADVANCE_S:
            raise ValueError(f"advance_s must be from 0 to {MAX_ADVANCE_S:.0f} seconds")
        with self._lock:
            self._offset += seconds
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
