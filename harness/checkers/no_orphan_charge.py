"""``no_orphan_charge``: after the reconcile window, every charge shows as paid.

A charge the checkout does not know about (the provider took the money, the order still
says "open") is an orphan. The checkout may take up to its reconcile window to notice, so
before ``ctx.reconcile_window_passed`` the verdict is unknown. What the checkout shows is
the latest ok ``read_order`` of the order; an order never read cannot be judged.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    entry_ids,
    latest_read_orders,
    op_evidence,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "no_orphan_charge"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    keys = ledger.business_keys()
    counts = {"charged_keys": len(keys), "orphans": 0, "unread": 0, "unkeyed_charges": 0}
    if not ctx.reconcile_window_passed:
        return CheckResult(
            NAME, "unknown", counts, message="the reconcile window has not passed yet"
        )
    shown = latest_read_orders(history)
    violations: list[Evidence] = []
    for key in keys:
        charges = entry_ids(ledger.charges(key))
        if key == "":
            counts["unkeyed_charges"] += len(charges)
            continue
        read = shown.get(key)
        paid = read.value.get("paid") if read else None
        if not isinstance(paid, bool):
            counts["unread"] += 1
        elif not paid:
            assert read is not None
            violations.append(op_evidence(read, order_id=key, paid=False, charges=charges))
    counts["orphans"] = len(violations)
    unsure = counts["unread"] + counts["unkeyed_charges"]
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["charges"]),
        unsure=unsure,
        ok_message=f"all {len(keys)} charged order(s) show as paid",
        bad_message=lambda n: f"{n} charged order(s) still show as unpaid",
        unsure_message=(
            f"{counts['unread']} charged order(s) never read back and "
            f"{counts['unkeyed_charges']} charge(s) without metadata.{ledger.field}"
        ),
    )
