"""``forged_webhooks_rejected``: events with a bad, stale or missing signature are refused.

A checkout that believes an unsigned "payment succeeded" ships goods without money; one
that applies a replayed old event can flip state. Each forged event must get a 4xx.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    completions,
    op_evidence,
    status,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "forged_webhooks_rejected"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    forged = completions(history, {"forged_webhook"})
    violations: list[Evidence] = []
    unsure = 0
    for op in forged:
        code = status(op)
        if code is None:
            unsure += 1
        elif not 400 <= code < 500:
            violations.append(op_evidence(op, forged=op.value.get("forged")))
    return verdict(
        NAME,
        {"forged": len(forged), "accepted": len(violations)},
        violations,
        unsure=unsure or (0 if forged else 1),
        ok_message=f"{len(forged)} forged event(s), all refused with 4xx",
        bad_message=lambda n: f"{n} forged event(s) were accepted",
        unsure_message="a forged event got no answer, or none was sent",
    )
