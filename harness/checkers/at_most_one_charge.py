"""``at_most_one_charge``: every purchase is charged at most once.

The ledger the checker gets holds every row the provider wrote that belongs to this run
(:mod:`harness._attribution`), not only those under the orders the run created. A purchase
with two charges is a double charge, and so is a charge under a business key the harness
never created (an order the checkout made up, or none at all) once the run's purchases are
all paid: the evidence names those "stray" rows. A refund does not excuse a double charge
(the customer saw the money leave twice), but the evidence reports refunds so a reader can
tell a repaired double charge from a live one.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    entry_ids,
    missing_money_evidence,
    named_orders,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "at_most_one_charge"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    strays = set(ctx.strays)
    keys = ledger.business_keys()
    known = set(ctx.orders) or named_orders(history)
    purchases = known or {k for k in keys if k}  # unknown purchases: one per business key
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
                    "stray": [c.id for c in charges if c.id in strays],
                    "metadata": [c.metadata for c in charges if c.id in strays],
                    "refunds": entry_ids(ledger.refunds(key)),
                    "refunded_amount": ledger.refunded(key),
                    "net_charges": ledger.net_charges(key),
                }
            )
    # Charges under keys that are none of the run's purchases (nothing to count them as).
    loose = [c for c in ledger.all_charges() if c.key(ledger.field) not in purchases]
    charged_purchases = [k for k in keys if k in purchases]
    if known and loose and len(charged_purchases) + len(loose) > len(purchases):
        violations.append(
            {
                "order_id": loose[0].key(ledger.field) or None,
                "charges": entry_ids(loose),
                "amounts": [c.amount for c in loose],
                "stray": entry_ids(loose),
                "metadata": [c.metadata for c in loose],
                "purchases": sorted(purchases),
                "reason": (
                    f"{len(charged_purchases) + len(loose)} charge(s) for {len(purchases)} "
                    "purchase(s): charges under business keys the run never created"
                ),
            }
        )
    counts = {
        "keys": len(keys),
        "charges": total,
        "double_charged_keys": len(violations),
        "refunded_double_charges": sum(1 for v in violations if v.get("net_charges", 2) <= 1),
        "stray_charges": sum(1 for c in ledger.all_charges() if c.id in strays),
        "unkeyed_charges": sum(1 for c in ledger.all_charges() if not c.own_key(ledger.field)),
    }
    undecided = missing_money_evidence(history, ledger, ctx)
    if undecided is None and loose:
        undecided = (
            f"{len(loose)} charge(s) ({', '.join(entry_ids(loose)[:3])}) carry no "
            f"metadata.{ledger.field} of this run's {len(purchases)} order(s): cannot tell which "
            "purchase they paid (check provider.business_key in the target profile)"
        )
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["charges"]),
        undecided=undecided,
        ok_message=f"{len(keys)} order(s) charged, none more than once",
        bad_message=lambda n: f"{n} purchase(s) charged more than once",
    )
