"""``at_most_one_charge``: the ledger shows at most one charge per business key.

A refund does not excuse a double charge (the customer saw the money leave twice), but the
evidence reports refunds so a reader can tell a repaired double charge from a live one.
Charges whose metadata lacks the business-key field cannot be attributed: with no
violation elsewhere the verdict is then unknown.
"""

from __future__ import annotations

from harness.checkers._base import CheckContext, CheckResult, entry_ids, verdict
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "at_most_one_charge"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    keys = [k for k in ledger.business_keys() if k != ""]
    unkeyed = len(ledger.charges("")) if "" in ledger.business_keys() else 0
    violations: list[Evidence] = []
    total = 0
    for key in keys:
        charges = ledger.charges(key)
        total += len(charges)
        if len(charges) > 1:
            violations.append(
                {
                    "order_id": key,
                    "charges": entry_ids(charges),
                    "amounts": [c.amount for c in charges],
                    "refunds": entry_ids(ledger.refunds(key)),
                    "refunded_amount": ledger.refunded(key),
                    "net_charges": ledger.net_charges(key),
                }
            )
    counts = {
        "keys": len(keys),
        "charges": total,
        "double_charged_keys": len(violations),
        "refunded_double_charges": sum(1 for v in violations if v["net_charges"] <= 1),
        "unkeyed_charges": unkeyed,
    }
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["charges"]),
        unsure=unkeyed,
        ok_message=f"{len(keys)} order(s) charged, none more than once",
        bad_message=lambda n: f"{n} order(s) charged more than once",
        unsure_message=(
            f"{unkeyed} charge(s) carry no metadata.{ledger.field}: cannot tell which order "
            "they belong to (set provider.business_key in the target profile)"
        ),
    )
