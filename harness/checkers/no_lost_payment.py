"""``no_lost_payment``: every order the checkout shows as paid has a charge.

An order marked paid with no money in the ledger is a lost payment (the shop ships for
free). What the checkout shows is the latest ``read_order`` of each order. An order whose
latest read failed or could not tell paid from unpaid leaves the verdict unknown, and so
does a run whose orders were never read back at all.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    latest_read_orders,
    missing_money_evidence,
    op_evidence,
    read_states,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "no_lost_payment"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    states = read_states(history)
    shown = latest_read_orders(history)
    violations: list[Evidence] = []
    paid = 0
    unreadable = sorted(k for k, v in states.items() if v is None)
    for key, flag in states.items():
        if flag is not True:
            continue
        paid += 1
        if not ledger.charges(key):
            violations.append(op_evidence(shown[key], order_id=key, paid=True, charges=[]))
    unread = sorted(set(ctx.orders) - set(states))
    counts = {
        "orders_read": len(states),
        "paid_orders": paid,
        "lost": len(violations),
        "unreadable": len(unreadable),
        "never_read": len(unread),
    }
    undecided = missing_money_evidence(history, ledger, ctx)
    if undecided is None and not states:
        undecided = "no order was read back: what the checkout shows is unknown"
    elif undecided is None and unread:
        undecided = f"order(s) {', '.join(unread[:3])} were never read back"
    elif undecided is None and unreadable:
        undecided = (
            f"the last read of order(s) {', '.join(unreadable[:3])} failed or showed neither "
            "paid nor unpaid (check the profile's read_order pointer or selectors)"
        )
    return verdict(
        NAME,
        counts,
        violations,
        undecided=undecided,
        ok_message=f"{paid} order(s) shown as paid, each with a charge",
        bad_message=lambda n: f"{n} order(s) shown as paid with no charge in the ledger",
    )
