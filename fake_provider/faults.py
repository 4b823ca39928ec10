"""Injected faults: the nemesis the fake carries inside itself.

A fault names the requests it aims at: an endpoint pattern (``"POST /v1/payment_intents"``,
``"POST /v1/payment_intents/*/confirm"`` where ``*`` is one path segment), ``"*"`` for
every Stripe API request, or ``"money"`` for every request that can move money (see
:func:`moves_money`). It has a mode and says when it fires: for the next ``count``
matching requests, or each time with ``probability`` drawn from ``random.Random(seed)``
(both: with that probability, at most ``count`` times). Only a matching request can use
a fault up, and each firing is kept as a hit: which request, and what the fault did to it.

Modes: ``delay`` (wait, then work normally), ``error_before`` (answer ``status``
before touching any state), ``error_after`` (work, then answer 500; that answer is
what the key replays), ``drop_after`` (work, then close the connection with no
response), ``hang_after`` (work, then hold the response until the client closes the
connection or ``delay_ms`` passes), ``in_flight`` (answer 409 ``idempotency_key_in_use``),
``search_lag`` (PaymentIntents created less than ``delay_ms`` ago stay out of search
results, as Stripe's search can lag by up to a minute). A ``search_lag`` fault aims only at
``GET /v1/payment_intents/search``, stays armed until cleared unless given ``count`` or
``probability``, and fires (a hit) only on a search it hid intents from.

A fault may also be *scoped* to some PaymentIntents: ``metadata`` maps a metadata key to the
values it aims at (``{"order_id": ["ord_1", "ord_2"]}``), and the fault then reaches only a
request about an intent whose metadata holds one of them: a create carrying it, or a confirm
or capture of an intent created with it. A ``search_lag`` fault so scoped hides only such
intents. This is how one test run arms a fault that no other run going on beside it feels;
a checkout that does not label its intents never meets a scoped fault, and the fault
reports that it never fired.

Payments a browser makes on the fake's own pages (the hosted Checkout page, its control
call, the 3-D Secure completion) are not API requests: only a fault aimed at ``"hosted"``
or at one of their paths (``"POST /c/pay/*"``) reaches them, never ``"*"`` or ``"money"``.
They take ``delay``, ``error_before``, ``error_after``, ``drop_after``, ``hang_after`` and
their own ``await_webhook`` (pay, then hold the answer until the payment's events were
delivered, or ``delay_ms`` passes); see ``fake_provider._hosted_faults``.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from fake_provider._errors import StripeError
from fake_provider._params import Params, get_bool
from fake_provider.ledger import metadata_of
from fake_provider.types import FAULT_MODES, JSON, FaultHit, FaultMode, FaultRecord

MONEY = "money"
"""The endpoint value that aims a fault at every request that can move money."""
HOSTED = "hosted"
"""The endpoint value that aims a fault at every payment made on the fake's own pages."""
HOSTED_PATHS = ("POST /c/pay/*", "POST /_fake/checkout/sessions/*/pay", "POST /3ds/*",
                "POST /_fake/3ds/*")  # fmt: skip
"""The payments on the fake's pages (and their control calls) a ``hosted`` fault aims at."""
HOSTED_MODES = frozenset(
    {"delay", "error_before", "error_after", "drop_after", "hang_after", "await_webhook"}
)
MAX_HITS = 1000
"""Hits kept per fault (``fired`` keeps counting past it)."""
_CHARGING_PATH = re.compile(r"/v1/payment_intents/[^/]+/(confirm|capture)")
SEARCH_PATH = "/v1/payment_intents/search"
"""The one endpoint a ``search_lag`` fault aims at."""

_DEFAULT_STATUS = {"error_before": 500, "error_after": 500, "in_flight": 409}
_DEFAULT_DELAY_MS = {
    "delay": 1000,
    "hang_after": 1000,
    "search_lag": 60_000,
    "await_webhook": 10_000,
}
_ALLOWED_STATUS = {"error_before": {500, 502, 503, 429}, "error_after": {500, 502, 503}}


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message names the field."""


def moves_money(method: str, path: str, params: Params | None) -> bool:
    """Whether this Stripe call can charge: a create with ``confirm=true``, a confirm, a capture.

    ``params`` is ``None`` when the body could not be read; a create then counts as not
    moving money (it cannot be shown to carry ``confirm=true``).
    """
    if method != "POST":
        return False
    if _CHARGING_PATH.fullmatch(path.rstrip("/")):
        return True
    if path.rstrip("/") != "/v1/payment_intents" or params is None:
        return False
    try:
        return get_bool(params, "confirm") is True
    except StripeError:  # a malformed flag is refused by validation, before any fault
        return False


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
    metadata: dict[str, frozenset[str]] | None = None
    """Scope: metadata key → the values the fault aims at; ``None``: every request."""
    fired: int = 0
    hits: list[FaultHit] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, method: str, path: str, *, money: bool = False, hosted: bool = False) -> bool:
        """Whether a request is one this fault's endpoint aims at (``money``: see
        :func:`moves_money`; ``hosted``: a payment on the fake's own pages, which only
        ``hosted`` and explicit paths reach). The scope is :meth:`in_scope`'s to judge."""
        if self.endpoint == MONEY:
            return money and not hosted
        if self.endpoint == HOSTED:
            return hosted
        if self.endpoint == "*":
            return not hosted
        want_method, _, want_path = self.endpoint.partition(" ")
        if want_method not in ("*", method):
            return False
        want, have = want_path.strip("/").split("/"), path.strip("/").split("/")
        return len(want) == len(have) and all(
            w in ("*", h) for w, h in zip(want, have, strict=True)
        )

    def in_scope(self, metadata: Mapping[str, str] | None) -> bool:
        """Whether an intent with ``metadata`` is one a scoped fault aims at (always, unscoped)."""
        if self.metadata is None:
            return True
        have = metadata or {}
        return all(have.get(key) in values for key, values in self.metadata.items())

    def record(self) -> FaultRecord:
        scope = None if self.metadata is None else {k: sorted(v) for k, v in self.metadata.items()}
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "mode": self.mode,
            "status": self.status,
            "delay_ms": self.delay_ms,
            "count": self.count,
            "probability": self.probability,
            "seed": self.seed,
            "metadata": scope,
            "fired": self.fired,
            "hits": [cast(FaultHit, dict(hit)) for hit in self.hits],
        }


def parse_fault(spec: dict[str, Any], fault_id: str) -> Fault:
    """Validate a JSON fault description (see the module docstring)."""
    fields = {"endpoint", "mode", "status", "delay_ms", "count", "probability", "seed", "metadata"}
    unknown = set(spec) - fields
    if unknown:
        raise FaultSpecError(f"unknown field(s) {sorted(unknown)}")
    endpoint = spec.get("endpoint", "*")
    if not isinstance(endpoint, str) or not (endpoint in ("*", MONEY, HOSTED) or " /" in endpoint):
        raise FaultSpecError(
            f"endpoint must be '*', 'money', 'hosted' or 'METHOD /path', got {endpoint!r}"
        )
    mode = spec.get("mode")
    if mode not in FAULT_MODES:
        raise FaultSpecError(f"mode must be one of {list(FAULT_MODES)}, got {mode!r}")
    _check_hosted(endpoint, mode)
    status = spec.get("status", _DEFAULT_STATUS.get(mode, 0))
    allowed = _ALLOWED_STATUS.get(mode)
    if allowed is not None and status not in allowed:
        raise FaultSpecError(f"status for {mode} must be one of {sorted(allowed)}, got {status!r}")
    if mode == "search_lag" and not (
        endpoint == "*" or _probe(endpoint).matches("GET", SEARCH_PATH)
    ):
        raise FaultSpecError(
            f"endpoint for search_lag must be '*' or 'GET {SEARCH_PATH}', got {endpoint!r}"
        )
    delay_ms = spec.get("delay_ms", _DEFAULT_DELAY_MS.get(mode, 0))
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
    if count is None and probability is None and mode != "search_lag":
        count = 1  # a search_lag fault stays armed until cleared
    return Fault(
        id=fault_id,
        endpoint=endpoint,
        mode=cast(FaultMode, mode),
        status=int(status),
        delay_ms=delay_ms,
        count=count,
        probability=None if probability is None else float(probability),
        seed=seed,
        metadata=_scope(spec.get("metadata")),
        _rng=random.Random(seed),
    )


def _scope(value: Any) -> dict[str, frozenset[str]] | None:
    """A fault's ``metadata`` scope: ``{key: [value, …]}``, at least one key, each with at
    least one non-empty string value."""
    if value is None:
        return None
    shape = "metadata must be an object of metadata keys to lists of non-empty strings"
    if not isinstance(value, dict) or not value:
        raise FaultSpecError(f"{shape}, got {value!r}")
    scope: dict[str, frozenset[str]] = {}
    for key, values in value.items():
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v for v in values)
        ):
            raise FaultSpecError(f"{shape}; metadata[{key!r}] is {values!r}")
        scope[str(key)] = frozenset(values)
    return scope


def aims_at_hosted(endpoint: str) -> bool:
    """Whether a fault aimed at ``endpoint`` can reach a payment on the fake's pages."""
    probe = _probe(endpoint)
    return any(probe.matches(*p.replace("*", "x").split(" "), hosted=True) for p in HOSTED_PATHS)


def _check_hosted(endpoint: str, mode: str) -> None:
    """Refuse a mode the pages cannot take, and ``await_webhook`` anywhere but on them."""
    hosted = aims_at_hosted(endpoint)
    if hosted and mode not in HOSTED_MODES:
        raise FaultSpecError(
            f"mode for payments on the fake's pages (endpoint {endpoint!r}) must be one of "
            f"{sorted(HOSTED_MODES)}, got {mode!r}"
        )
    if mode == "await_webhook" and not hosted:
        raise FaultSpecError(
            f"endpoint for await_webhook must be 'hosted' or one of {list(HOSTED_PATHS)}, "
            f"got {endpoint!r}"
        )


def _probe(endpoint: str) -> Fault:
    """A throwaway fault aimed at ``endpoint``, to ask what it matches."""
    return Fault("", endpoint, "delay", 0, 0, None, None, None)


class Faults:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._next = 0
        self.clock = clock
        """What hit times (``at``) and search lag read (the fake's ``Clock.now``)."""

    def add(self, spec: dict[str, Any]) -> Fault:
        with self._lock:
            self._next += 1
            fault = parse_fault(spec, f"flt_{self._next}")
            self._faults.append(fault)
            return fault

    def take(
        self,
        method: str,
        path: str,
        *,
        money: bool = False,
        hosted: bool = False,
        request_id: str = "",
        idempotency_key: str | None = None,
        account: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> tuple[Fault, FaultHit] | None:
        """The first armed fault matching this request, consumed if it fires.

        The firing is recorded as a hit on the fault, which is returned with it; its
        ``effect`` (and ``replayed``) are for the caller to fill in as the request goes on.
        """
        with self._lock:
            for fault in self._faults:
                if fault.mode == "search_lag":  # applied by the search itself: see lag_search
                    continue
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                if not fault.matches(method, path, money=money, hosted=hosted):
                    continue
                if not fault.in_scope(metadata):
                    continue
                if fault.probability is not None and fault._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                hit: FaultHit = {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "idempotency_key": idempotency_key,
                    "account": account,
                    "at": self.clock(),
                    "money": money,
                    "charged": False,
                    "replayed": False,
                    "effect": None,
                }
                if len(fault.hits) < MAX_HITS:
                    fault.hits.append(hit)
                return fault, hit
        return None

    def lag_search(
        self,
        found: list[JSON],
        born: Callable[[JSON], float],
        *,
        request_id: str = "",
        account: str | None = None,
    ) -> list[JSON]:
        """``found`` without the intents an armed ``search_lag`` fault keeps out of search.

        ``born(intent)`` is when the intent was created, on this fake's clock; a scoped
        fault hides only intents in its scope. Each armed fault in turn hides the young
        intents it aims at that no fault before it hid, and fires if it hid any: its hit
        names the request and says what it hid. So the lags of runs going on side by side
        each hide their own intents from a search that finds several runs' (an unscoped
        fault leaves nothing to the ones after it). A search with nothing to hide leaves
        every fault untouched.
        """
        with self._lock:
            now = self.clock()
            ages = {o["id"]: now - born(o) for o in found}
            shown = list(found)
            for fault in self._faults:
                if fault.mode != "search_lag" or not fault.matches("GET", SEARCH_PATH):
                    continue
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                hidden = [
                    o
                    for o in shown
                    if ages[o["id"]] < fault.delay_ms / 1000 and fault.in_scope(metadata_of(o))
                ]
                if not hidden:
                    continue
                if fault.probability is not None and fault._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                if len(fault.hits) < MAX_HITS:
                    fault.hits.append(
                        {
                            "request_id": request_id,
                            "method": "GET",
                            "path": SEARCH_PATH,
                            "idempotency_key": None,
                            "account": account,
                            "at": now,
                            "money": False,
                            "charged": False,
                            "replayed": False,
                            "effect": _hid(hidden, ages),
                        }
                    )
                shown = [o for o in shown if o not in hidden]
        return shown

    def fired_on(self, request_id: str) -> str | None:
        """``"flt_N:search_lag"`` if a search lag fault fired on this request, else ``None``."""
        with self._lock:
            for fault in self._faults:
                if fault.mode == "search_lag" and any(
                    h["request_id"] == request_id for h in reversed(fault.hits[-50:])
                ):
                    return f"{fault.id}:{fault.mode}"
        return None

    def records(self) -> list[FaultRecord]:
        with self._lock:
            return [f.record() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def remove(self, fault_id: str) -> FaultRecord | None:
        """Take one fault away (its record, as it ended); ``None`` if no fault has that id."""
        with self._lock:
            for fault in self._faults:
                if fault.id == fault_id:
                    self._faults.remove(fault)
                    return fault.record()
        return None


def _hid(hidden: list[JSON], ages: dict[str, float]) -> str:
    """``hid 1 intent created 0.4 s ago from search (pi_…)``: the effect of a search lag."""
    spans = sorted(ages[o["id"]] for o in hidden)
    when = f"{spans[0]:.1f} s" if len(spans) == 1 else f"{spans[0]:.1f} s to {spans[-1]:.1f} s"
    ids = ", ".join(o["id"] for o in hidden[:3]) + (", …" if len(hidden) > 3 else "")
    noun = "intent" if len(hidden) == 1 else "intents"
    return f"hid {len(hidden)} {noun} created {when} ago from search ({ids})"
