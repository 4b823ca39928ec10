"""``told_the_truth``: a customer whose order was charged is not left believing it failed.

For each order with at least one charge in the ledger, the customer must have been told
"success" at least once, or else no key's last answer may be a definite failure (outcome
``failed``, or a 4xx other than 409). A customer told "failed" pays again. A decline for an
attempt that was never charged is the truth, and fine once another attempt succeeded; a
5xx or a timeout is "unknown", which is honest too. A key reused with a changed body is a
different request and is judged by ``changed_body_refused``, not here.
"""

from __future__ import annotations

from collections import defaultdict

from harness.checkers._base import (
    PAYMENT_FS,
    CheckContext,
    CheckResult,
    completions,
    entry_ids,
    is_definite_failure,
    missing_money_evidence,
    op_evidence,
    order_id,
    outcome,
    verdict,
)
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "told_the_truth"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    last: dict[str, dict[str, Op]] = defaultdict(dict)
    told_success: set[str] = set()
    unattributed = 0
    for op in completions(history, PAYMENT_FS):
        if op.value.get("tampered"):
            continue
        oid = order_id(op)
        if oid is None:
            unattributed += 1
            continue
        if op.type == "ok" and outcome(op) == "success":
            told_success.add(oid)
        last[oid][f"{op.value.get('user') or ''}/{op.value.get('key') or ''}"] = op
    violations: list[Evidence] = []
    charged = 0
    for oid, finals in last.items():
        charges = ledger.charges(oid)
        if not charges:
            continue
        charged += 1
        if oid in told_success:
            continue
        for op in finals.values():
            if is_definite_failure(op):
                violations.append(op_evidence(op, order_id=oid, charges=entry_ids(charges)))
    counts = {
        "orders": len(last),
        "charged_orders": charged,
        "told_failed_but_charged": len(violations),
        "unattributed": unattributed,
    }
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["charges"]),
        unsure=unattributed if not last else 0,
        undecided=missing_money_evidence(history, ledger, ctx),
        ok_message=f"no customer of the {charged} charged order(s) was left told 'failed'",
        bad_message=lambda n: f"{n} answer(s) told a charged customer 'failed'",
        unsure_message=f"{unattributed} answer(s) name no order_id: cannot match the ledger",
    )
