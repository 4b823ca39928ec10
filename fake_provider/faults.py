"""Injected faults: the nemesis the fake carries inside itself.

A fault names an endpoint pattern (``"POST /v1/payment_intents"``,
``"POST /v1/payment_intents/*/confirm"`` where ``*`` is one path segment, or ``"*"``
for every Stripe API request), a mode and when it fires: for the next ``count``
matching requests, or each time with ``probability`` drawn from ``random.Random(seed)``
(both: with that probability, at most ``count`` times).

Modes: ``delay`` (wait, then work normally), ``error_before`` (answer ``status``
before touching any state), ``error_after`` (work, then answer 500; that answer is
what the key replays), ``drop_after`` (work, then close the connection with no
response), ``hang_after`` (work, then hold the response ``delay_ms``), ``in_flight``
(answer 409 ``idempotency_key_in_use``).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, cast

from fake_provider.types import FAULT_MODES, FaultMode, FaultRecord

_DEFAULT_STATUS = {"error_before": 500, "error_after": 500, "in_flight": 409}
_ALLOWED_STATUS = {"error_before": {500, 502, 503, 429}, "error_after": {500, 502, 503}}


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message names the field."""


@dataclass
class Fault:
    id: str
    endpoint: str
    mode: FaultMode
    status: int
    delay_ms: int
    count: int | None
    probability: float | None
    seed: int | None
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.endpoint == "*":
            return True
        want_method, _, want_path = self.endpoint.partition(" ")
        if want_method not in ("*", method):
            return False
        want, have = want_path.strip("/").split("/"), path.strip("/").split("/")
        return len(want) == len(have) and all(
            w in ("*", h) for w, h in zip(want, have, strict=True)
        )

    def record(self) -> FaultRecord:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "status": self.status,
            "delay_ms": self.delay_ms,
            "count": self.count,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
        }


def parse_fault(spec: dict[str, Any], fault_id: str) -> Fault:
    """Validate a JSON fault description (see the module docstring)."""
    unknown = set(spec) - {"endpoint", "mode", "status", "delay_ms", "count", "probability", "seed"}
    if unknown:
        raise FaultSpecError(f"unknown field(s) {sorted(unknown)}")
    endpoint = spec.get("endpoint", "*")
    if not isinstance(endpoint, str) or not (endpoint == "*" or " /" in endpoint):
        raise FaultSpecError(f"endpoint must be '*' or 'METHOD /path', got {endpoint!r}")
    mode = spec.get("mode")
    if mode not in FAULT_MODES:
        raise FaultSpecError(f"mode must be one of {list(FAULT_MODES)}, got {mode!r}")
    status = spec.get("status", _DEFAULT_STATUS.get(mode, 0))
    allowed = _ALLOWED_STATUS.get(mode)
    if allowed is not None and status not in allowed:
        raise FaultSpecError(f"status for {mode} must be one of {sorted(allowed)}, got {status!r}")
    delay_ms = spec.get("delay_ms", 0 if mode not in ("delay", "hang_after") else 1000)
    if not isinstance(delay_ms, int) or isinstance(delay_ms, bool) or not 0 <= delay_ms <= 600_000:
        raise FaultSpecError(f"delay_ms must be an integer from 0 to 600000, got {delay_ms!r}")
    count, probability, seed = spec.get("count"), spec.get("probability"), spec.get("seed")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise FaultSpecError(f"count must be a positive integer, got {count!r}")
    if probability is not None and (
        not isinstance(probability, int | float)
        or isinstance(probability, bool)
        or not 0 <= probability <= 1
    ):
        raise FaultSpecError(f"probability must be a number from 0 to 1, got {probability!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise FaultSpecError(f"seed must be an integer, got {seed!r}")
    if count is None and probability is None:
        count = 1
    return Fault(
        id=fault_id,
        endpoint=endpoint,
        mode=cast(FaultMode, mode),
        status=int(status),
        delay_ms=delay_ms,
        count=count,
        probability=None if probability is None else float(probability),
        seed=seed,
        _rng=random.Random(seed),
    )


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._next = 0

    def add(self, spec: dict[str, Any]) -> Fault:
        with self._lock:
            self._next += 1
            fault = parse_fault(spec, f"flt_{self._next}")
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first armed fault matching this request, consumed if it fires."""
        with self._lock:
            for fault in self._faults:
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                if not fault.matches(method, path):
                    continue
                if fault.probability is not None and fault._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
        return None

    def records(self) -> list[FaultRecord]:
        with self._lock:
            return [f.record() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
