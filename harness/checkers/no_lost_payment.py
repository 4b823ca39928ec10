"""``no_lost_payment``: every order the checkout shows as paid has a charge.

An order marked paid with no money in the ledger is a lost payment (the shop ships for
free). What the checkout shows is the latest ok ``read_order`` of each order.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    latest_read_orders,
    op_evidence,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "no_lost_payment"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    shown = latest_read_orders(history)
    violations: list[Evidence] = []
    paid = unreadable = 0
    for key, op in shown.items():
        flag = op.value.get("paid")
        if not isinstance(flag, bool):
            unreadable += 1
            continue
        if not flag:
            continue
        paid += 1
        if not ledger.charges(key):
            violations.append(op_evidence(op, order_id=key, paid=True, charges=[]))
    counts = {
        "orders_read": len(shown),
        "paid_orders": paid,
        "lost": len(violations),
        "unreadable": unreadable,
    }
    return verdict(
        NAME,
        counts,
        violations,
        unsure=unreadable,
        ok_message=f"{paid} order(s) shown as paid, each with a charge",
        bad_message=lambda n: f"{n} order(s) shown as paid with no charge in the ledger",
        unsure_message=f"{unreadable} read_order completion(s) carry no boolean 'paid'",
    )
