"""``charge_matches_order``: every charge is of the amount the checkout quoted for its order.

A checkout that charges an amount the client sent (a tampered request, a stale cart in the
page) takes the wrong money, whether or not the customer is ever told "success". The
expected amount is the one quoted when the order was created (``ctx.expected_amounts``).
A charge for an order whose amount is unknown cannot be judged; no charge at all is valid
(nothing was taken wrongly).
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    entry_ids,
    missing_money_evidence,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "charge_matches_order"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    judged = unknown = 0
    for key in ledger.business_keys():
        charges = ledger.charges(key)
        expected = ctx.expected_amounts.get(key)
        if expected is None:
            unknown += len(charges)
            continue
        judged += len(charges)
        wrong = [c for c in charges if c.amount != expected]
        if wrong:
            violations.append(
                {
                    "order_id": key,
                    "expected_amount": expected,
                    "charged_amounts": [c.amount for c in wrong],
                    "charges": entry_ids(wrong),
                }
            )
    counts = {"charges": judged, "wrong_amount": len(violations), "amount_unknown": unknown}
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: max(abs(a - int(v["expected_amount"])) for a in v["charged_amounts"]),
        unsure=unknown,
        undecided=missing_money_evidence(history, ledger, ctx),
        ok_message=f"{judged} charge(s), each of its order's quoted amount",
        bad_message=lambda n: f"{n} order(s) charged an amount other than the quoted one",
        unsure_message=f"{unknown} charge(s) for orders whose quoted amount is unknown",
    )
