"""Stripe's idempotency rules as a small store.

A key belongs to one account. The first request that *begins executing* under a
key reserves it; while it runs, others with the key get ``in_flight`` (409). When
it finishes, its status and body are saved and every later request with the same
key, endpoint and parameters is answered from the record (``replay``); a different
endpoint or parameters is a ``mismatch`` (400 ``idempotency_error``). Requests
that fail validation never call ``begin``, so nothing is saved for them. Records
expire ``ttl`` seconds after the first request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fake_provider._state import Store
from fake_provider.types import JSON

MAX_KEY_LENGTH = 255
DecisionKind = Literal["proceed", "replay", "mismatch", "in_flight"]


def fingerprint(endpoint: str, params: dict[str, Any]) -> JSON:
    """What two requests must share to be "the same request": endpoint and parameters."""
    return {"endpoint": endpoint, "params": json.dumps(params, sort_keys=True)}


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    status: int = 0
    body: JSON | None = None
    first_endpoint: str | None = None
    request_id: str | None = None
    """The ``Request-Id`` of the request whose response is replayed."""


class IdempotencyStore:
    def __init__(
        self, store: Store, ttl: float = 86400.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._running: dict[str, tuple[JSON, float, str | None]] = {}

    @staticmethod
    def _slot(account: str, key: str) -> str:
        return f"{account}\x1f{key}"

    def begin(
        self, account: str, key: str, print_: JSON, request_id: str | None = None
    ) -> Decision:
        """Reserve ``key`` for a request about to execute, or say why it must not."""
        slot = self._slot(account, key)
        with self._lock:
            if slot in self._running:
                return Decision("in_flight")
            record = self.store.get("idempotency", slot)
            if record is not None and self.clock() - record["created"] >= self.ttl:
                self.store.delete("idempotency", slot)
                record = None
            if record is None:
                self._running[slot] = (print_, self.clock(), request_id)
                return Decision("proceed")
            if record["fingerprint"] != print_:
                return Decision("mismatch", first_endpoint=record["fingerprint"]["endpoint"])
            return Decision(
                "replay",
                status=record["status"],
                body=record["body"],
                request_id=record.get("request_id"),
            )

    def finish(self, account: str, key: str, status: int, body: JSON) -> None:
        """Save the response of the request that ``begin`` let through."""
        slot = self._slot(account, key)
        with self._lock:
            running = self._running.pop(slot, None)
            if running is None:  # a reset happened while the request ran: keep nothing
                return
            print_, started, request_id = running
            record = {
                "fingerprint": print_,
                "status": status,
                "body": body,
                "created": started,
                "request_id": request_id,
            }
            self.store.put("idempotency", slot, record)

    def abandon(self, account: str, key: str) -> None:
        """Release a reservation without saving anything (the request never executed)."""
        with self._lock:
            self._running.pop(self._slot(account, key), None)

    def purge(self) -> int:
        """Drop expired records; return how many."""
        now = self.clock()
        with self._lock:
            expired = [
                slot
                for slot in self.store.keys("idempotency")
                if now - self.store.get("idempotency", slot)["created"] >= self.ttl
            ]
            for slot in expired:
                self.store.delete("idempotency", slot)
        return len(expired)

    def clear(self) -> None:
        with self._lock:
            self._running.clear()
