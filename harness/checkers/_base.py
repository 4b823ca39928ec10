"""What every checker shares: its result, its context and readers of ``Op.value``.

A checker is a pure function ``check(history, ledger, ctx) -> CheckResult``. It reads the
``Op.value`` keys that ``docs/contracts.md`` fixes (``order_id``, ``user``, ``key``,
``request``, ``response``, ``outcome``, ``page_state``, ``posts``, ``paid``) through the
helpers below, so that a driver that leaves a key out makes a checker say "unknown",
never "valid".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.history import History, Op
from harness.ledger import DEFAULT_BUSINESS_KEY, LedgerEntry, LedgerView
from harness.types import Evidence, JSONDict, Severity, Validity

UNKNOWN: Literal["unknown"] = "unknown"
PAYMENT_FS: frozenset[str] = frozenset({"confirm", "submit", "capture"})
"""Operations that ask the checkout to take money: an API confirm, a browser form submit,
a capture of an authorised payment (manual capture)."""


@dataclass(frozen=True)
class CheckContext:
    """What a checker knows besides the history and the ledger."""

    business_key: str = DEFAULT_BUSINESS_KEY
    reconcile_window_passed: bool = False
    """True once the target's reconcile window (profile ``reconcile_window_s``) has passed."""
    expected_amounts: Mapping[str, int] = field(default_factory=dict)
    """Order id → amount the customer agreed to pay, in minor units, when known."""
    scenario_id: str | None = None
    ledger_read: bool = False
    """True once the runner read the provider's ledger for this run. Without it no checker
    that judges money can say valid."""
    orders: tuple[str, ...] = ()
    """Business keys of the orders the run created."""
    owners: Mapping[str, str] = field(default_factory=dict)
    """Order id → the user who created it."""
    strays: tuple[str, ...] = ()
    """Ledger row ids given to this run whose own business key is none of its orders."""
    ambiguous: tuple[str, ...] = ()
    """Ledger row ids that may be this run's or another concurrent run's."""


@dataclass
class CheckResult:
    """A checker's verdict with counts and the first and worst example of a violation."""

    name: str
    valid: Validity
    counts: dict[str, int] = field(default_factory=dict)
    first: Evidence | None = None
    worst: Evidence | None = None
    message: str = ""
    severity: Severity = "money"
    """What a violation costs: ``money`` (gated) or ``hygiene`` (reported; gated on request)."""

    def to_json(self) -> JSONDict:
        return {
            "name": self.name,
            "severity": self.severity,
            "valid": self.valid,
            "counts": dict(self.counts),
            "first": self.first,
            "worst": self.worst,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            valid=data["valid"],
            counts=dict(data.get("counts") or {}),
            first=data.get("first"),
            worst=data.get("worst"),
            message=str(data.get("message") or ""),
            severity="hygiene" if data.get("severity") == "hygiene" else "money",
        )


Checker = Callable[[History, LedgerView, CheckContext], CheckResult]


def verdict(
    name: str,
    counts: dict[str, int],
    violations: list[Evidence],
    *,
    severity: Callable[[Evidence], float] | None = None,
    unsure: int = 0,
    ok_message: str,
    bad_message: Callable[[int], str],
    unsure_message: str = "",
    undecided: str | None = None,
) -> CheckResult:
    """Turn a list of violations into a result: False if any, unknown if ``unsure`` or
    ``undecided`` (why the evidence is missing), else True."""
    if violations:
        worst = max(violations, key=severity) if severity else violations[0]
        return CheckResult(name, False, counts, violations[0], worst, bad_message(len(violations)))
    if undecided:
        return CheckResult(name, UNKNOWN, counts, None, None, undecided)
    if unsure:
        return CheckResult(name, UNKNOWN, counts, None, None, unsure_message)
    return CheckResult(name, True, counts, None, None, ok_message)


# -- readers of Op.value -------------------------------------------------------------------


def completions(history: History, fs: Iterable[str] | None = None) -> list[Op]:
    wanted = None if fs is None else set(fs)
    return [op for op in history.ops if not op.is_invoke and (wanted is None or op.f in wanted)]


def response(op: Op) -> JSONDict | None:
    value = op.value.get("response")
    return value if isinstance(value, dict) else None


def status(op: Op) -> int | None:
    resp = response(op)
    code = resp.get("status") if resp else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def body(op: Op) -> Any:
    resp = response(op)
    return resp.get("body") if resp else None


def header(headers: Any, name: str) -> str | None:
    """A header value by case-insensitive name; lists are joined with ``", "``."""
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return None


def response_header(op: Op, name: str) -> str | None:
    resp = response(op)
    return header(resp.get("headers"), name) if resp else None


def order_id(op: Op) -> str | None:
    """The business key an op concerns: ``value.order_id``, else the response body's."""
    value = op.value.get("order_id")
    if value in (None, ""):
        data = body(op)
        value = data.get("order_id") if isinstance(data, dict) else None
    return None if value in (None, "") else str(value)


def outcome(op: Op) -> str | None:
    """What the client was told; derived from the status when the driver left it out."""
    told = op.value.get("outcome")
    if isinstance(told, str):
        return told
    code = status(op)
    if code is None:
        return "unknown" if op.type == "info" else None
    if code in (202, 409):
        return "pending"
    if 200 <= code < 400:
        return "success"
    if 400 <= code < 500:
        return "failed"
    return "unknown"


def is_definite_failure(op: Op) -> bool:
    """The client was told a clear no: outcome ``failed`` or a 4xx other than 409.

    A 5xx is not a definite failure: the contract calls it "unknown".
    """
    code = status(op)
    if op.value.get("outcome") == "failed":
        return True
    return code is not None and 400 <= code < 500 and code != 409


def op_evidence(op: Op, **extra: Any) -> Evidence:
    """A compact pointer to one op, for ``first``/``worst``."""
    evidence: Evidence = {"op": op.index, "type": op.type, "f": op.f, "process": op.process}
    if op.invoke_index is not None:
        evidence["invoke"] = op.invoke_index
    for name in ("user", "order_id", "key", "url", "page_state", "outcome"):
        if op.value.get(name) is not None:
            evidence[name] = op.value[name]
    if status(op) is not None:
        evidence["status"] = status(op)
    evidence.update(extra)
    return evidence


def entry_ids(entries: Iterable[LedgerEntry]) -> list[str]:
    return [e.id for e in entries]


def named_orders(history: History) -> set[str]:
    """The order ids the history's operations name."""
    return {oid for op in history.ops if (oid := order_id(op)) is not None}


def money_may_have_moved(history: History) -> bool:
    """A payment request was answered success or pending, or its outcome is unknown."""
    for op in completions(history):
        if op.value.get("page_state") == "success":
            return True
        if op.f in PAYMENT_FS and (op.type == "info" or outcome(op) in ("success", "pending")):
            return True
    return False


def missing_money_evidence(history: History, ledger: LedgerView, ctx: CheckContext) -> str | None:
    """Why the ledger cannot back a "valid" money verdict for this run, or ``None``."""
    if not ctx.ledger_read:
        return "the provider's ledger was not read for this run"
    if ctx.ambiguous:
        return (
            f"{len(ctx.ambiguous)} ledger row(s) ({', '.join(ctx.ambiguous[:3])}) were written "
            "while this and another scenario were paying and carry no order either created: "
            "cannot tell whose money they took"
        )
    if not ledger.entries and money_may_have_moved(history):
        return (
            "a payment may have gone through (answered success, pending or unknown), yet the "
            "provider's ledger shows no activity for this run: is the checkout configured "
            "with this provider's URL?"
        )
    return None


def read_states(history: History) -> dict[str, bool | None]:
    """Each order's paid state as the latest completed ``read_order`` shows it: True or
    False, or None when that read failed or could not tell (HTTP error, pointer or
    selector that did not resolve)."""
    states: dict[str, bool | None] = {}
    for op in completions(history, {"read_order"}):
        oid = order_id(op)
        if oid is None:
            continue
        paid = op.value.get("paid")
        states[oid] = paid if op.type == "ok" and isinstance(paid, bool) else None
    return states


def latest_read_orders(history: History) -> dict[str, Op]:
    """The latest ok ``read_order`` completion per order: what the checkout shows now."""
    latest: dict[str, Op] = {}
    for op in completions(history, {"read_order"}):
        oid = order_id(op)
        if op.type == "ok" and oid is not None:
            latest[oid] = op
    return latest
