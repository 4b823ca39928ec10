"""``changed_body_refused``: a key reused with a different request body is refused.

The IETF Idempotency-Key draft and Stripe agree: the same key with another payload is a
client error, never a silent replay of the first answer and never a second execution.
The interpreter marks such requests ``tampered``; each must get a definite 4xx (not
409, which only says "busy").
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    completions,
    is_definite_failure,
    op_evidence,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "changed_body_refused"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    tampered = [op for op in completions(history, {"confirm"}) if op.value.get("tampered")]
    violations: list[Evidence] = [
        op_evidence(op, reason="a reused key with a changed body was not refused")
        for op in tampered
        if op.type != "info" and not is_definite_failure(op)
    ]
    answered = sum(1 for op in tampered if op.type != "info")
    return verdict(
        NAME,
        {"reused_with_other_body": len(tampered), "accepted": len(violations)},
        violations,
        unsure=0 if answered else 1,
        ok_message=f"{len(tampered)} reuse(s) with another body, all refused",
        bad_message=lambda n: f"{n} reuse(s) of a key with another body were accepted",
        unsure_message="no answer to the changed-body request, so refusal is unknown",
    )
