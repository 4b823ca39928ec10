"""``no_orphan_charge``: once the reconcile window has passed, every charge shows as paid.

A charge the checkout does not know about (the provider took the money, the order still
says "open") is an orphan: the customer paid and is told, or will be told, they did not.
The checkout may take up to its reconcile window (profile ``reconcile_window_s``) to
notice, so before ``ctx.reconcile_window_passed`` the verdict is unknown. What the checkout
shows is the latest ``read_order`` of the order; a charged order whose latest read failed,
could not tell, or never happened leaves the verdict unknown.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    entry_ids,
    latest_read_orders,
    missing_money_evidence,
    op_evidence,
    read_states,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "no_orphan_charge"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    keys = ledger.business_keys()
    counts = {"charged_keys": len(keys), "orphans": 0, "unread": 0, "unkeyed_charges": 0}
    if not ctx.reconcile_window_passed:
        return CheckResult(
            NAME, "unknown", counts, message="the reconcile window has not passed yet"
        )
    states = read_states(history)
    shown = latest_read_orders(history)
    violations: list[Evidence] = []
    unread: list[str] = []
    for key in keys:
        charges = entry_ids(ledger.charges(key))
        if key == "" or (ctx.orders and key not in ctx.orders):
            counts["unkeyed_charges"] += len(charges)
            continue
        paid = states.get(key)
        if paid is None:
            unread.append(key)
        elif not paid:
            violations.append(op_evidence(shown[key], order_id=key, paid=False, charges=charges))
    counts["orphans"] = len(violations)
    counts["unread"] = len(unread)
    undecided = missing_money_evidence(history, ledger, ctx)
    if undecided is None and (unread or counts["unkeyed_charges"]):
        undecided = (
            f"{len(unread)} charged order(s) not read back as paid or unpaid "
            f"({', '.join(unread[:3]) or 'none'}) and {counts['unkeyed_charges']} charge(s) "
            "under no order of this run"
        )
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["charges"]),
        undecided=undecided,
        ok_message=f"all {len(keys)} charged order(s) show as paid",
        bad_message=lambda n: f"{n} charged order(s) still show as unpaid",
    )
