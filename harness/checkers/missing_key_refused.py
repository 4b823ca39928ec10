"""``missing_key_refused``: a confirm without an Idempotency-Key is refused, uncharged.

A payment endpoint that accepts requests without a key cannot tell a retry from a new
payment. Each keyless confirm must get a definite 4xx and must not charge.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    completions,
    is_definite_failure,
    op_evidence,
    order_id,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "missing_key_refused"
SEVERITY: Severity = "hygiene"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    keyless = [op for op in completions(history, {"confirm"}) if op.value.get("key") is None]
    violations: list[Evidence] = []
    unsure = 0
    for op in keyless:
        if op.type == "info":
            unsure += 1
            continue
        oid = order_id(op)
        charges = len(ledger.charges(oid)) if oid else 0
        if not is_definite_failure(op) or charges:
            violations.append(op_evidence(op, charges=charges))
    return verdict(
        NAME,
        {"keyless_confirms": len(keyless), "accepted_or_charged": len(violations)},
        violations,
        unsure=1 if unsure == len(keyless) else 0,
        ok_message=f"{len(keyless)} confirm(s) without a key, all refused and uncharged",
        bad_message=lambda n: f"{n} confirm(s) without a key were accepted or charged",
        unsure_message="no keyless confirm got an answer",
    )
