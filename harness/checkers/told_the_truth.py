"""``told_the_truth``: a client whose order was charged is not finally told "failed".

For each ``(user, key)`` whose order has at least one charge in the ledger, the last
completion of that key must not be a definite failure (outcome ``failed``, or a 4xx other
than 409). A 402 decline for an order that was never charged is the truth, and fine; a
5xx or a timeout is "unknown", which is honest too.
"""

from __future__ import annotations

from harness.checkers._base import (
    PAYMENT_FS,
    CheckContext,
    CheckResult,
    completions,
    entry_ids,
    is_definite_failure,
    op_evidence,
    order_id,
    verdict,
)
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "told_the_truth"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    last: dict[tuple[str, str], Op] = {}
    orders: dict[tuple[str, str], str] = {}
    unattributed = 0
    for op in completions(history, PAYMENT_FS):
        group = (str(op.value.get("user") or ""), str(op.value.get("key") or ""))
        oid = order_id(op)
        if oid is not None:
            orders[group] = oid
        last[group] = op
    violations: list[Evidence] = []
    charged = 0
    for group, op in last.items():
        oid = orders.get(group)
        if oid is None:
            unattributed += 1
            continue
        charges = ledger.charges(oid)
        if not charges:
            continue
        charged += 1
        if is_definite_failure(op):
            violations.append(op_evidence(op, order_id=oid, charges=entry_ids(charges)))
    counts = {
        "keys": len(last),
        "charged_keys": charged,
        "told_failed_but_charged": len(violations),
        "unattributed_keys": unattributed,
    }
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["charges"]),
        unsure=unattributed,
        ok_message=f"no client of the {charged} charged key(s) was finally told 'failed'",
        bad_message=lambda n: f"{n} client(s) were told 'failed' although they were charged",
        unsure_message=f"{unattributed} key(s) name no order_id: cannot match the ledger",
    )
