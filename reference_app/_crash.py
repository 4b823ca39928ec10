"""TEST-ONLY crash hook: ``NODOUBLE_CRASH_AT=<point>`` kills the process at that point.

Off by default. Crash tests start a real server with the variable set, make one request,
watch the process die exactly where a power cut would hurt most, restart it without the
variable and check that recovery settles the payment with exactly one charge.

Points: ``after_claim`` (claim committed), ``after_payment_row`` (claim committed and it
created the payment row), ``after_provider_call`` (the provider answered, nothing recorded).
"""

from __future__ import annotations

import os
import signal

CRASH_POINTS = frozenset({"after_claim", "after_payment_row", "after_provider_call"})


def crash_point(name: str) -> None:
    """Die with SIGKILL if ``NODOUBLE_CRASH_AT`` names this point (test hook, off by default)."""
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    if os.environ.get("NODOUBLE_CRASH_AT", "") == name:
        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # pragma: no cover - SIGKILL does not return
