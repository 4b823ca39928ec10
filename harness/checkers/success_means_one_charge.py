"""``success_means_one_charge``: a customer told "success" was charged exactly once.

A success is an ``ok`` confirm/submit completion whose outcome is ``"success"``, or any
browser op that landed on the success page (``page_state == "success"``). For each such
order the ledger must hold exactly one charge, of the order's amount: the amount from the
context if known, else the ``amount`` of an ok response body for that order.
"""

from __future__ import annotations

from harness.checkers._base import (
    PAYMENT_FS,
    CheckContext,
    CheckResult,
    body,
    completions,
    entry_ids,
    missing_money_evidence,
    op_evidence,
    order_id,
    outcome,
    verdict,
)
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "success_means_one_charge"
SEVERITY: Severity = "money"


def _saw_success(op: Op) -> bool:
    if op.value.get("page_state") == "success":
        return True
    return op.type == "ok" and op.f in PAYMENT_FS and outcome(op) == "success"


def _amount_from_bodies(ops: list[Op]) -> int | None:
    for op in ops:
        data = body(op)
        if op.type == "ok" and isinstance(data, dict):
            amount = data.get("amount")
            if isinstance(amount, int) and not isinstance(amount, bool):
                return amount
    return None


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    successes = [op for op in completions(history) if _saw_success(op)]
    by_order: dict[str, list[Op]] = {}
    unattributed = 0
    for op in successes:
        oid = order_id(op)
        if oid is None:
            unattributed += 1
        else:
            by_order.setdefault(oid, []).append(op)
    violations: list[Evidence] = []
    amount_unknown = 0
    for oid, ops in by_order.items():
        charges = ledger.charges(oid)
        order_ops = [op for op in completions(history) if order_id(op) == oid]
        expected = ctx.expected_amounts.get(oid, _amount_from_bodies(order_ops))
        if expected is None:
            amount_unknown += 1
        wrong = [c.amount for c in charges if expected is not None and c.amount != expected]
        if len(charges) != 1 or wrong:
            violations.append(
                op_evidence(
                    ops[0],
                    order_id=oid,
                    success_ops=[op.index for op in ops],
                    charges=entry_ids(charges),
                    charged_amounts=[c.amount for c in charges],
                    expected_amount=expected,
                )
            )
    counts = {
        "successes": len(successes),
        "orders": len(by_order),
        "violations": len(violations),
        "no_charge": sum(1 for v in violations if not v["charges"]),
        "extra_charges": sum(max(0, len(v["charges"]) - 1) for v in violations),
        "wrong_amount": sum(
            1
            for v in violations
            if v["expected_amount"] is not None
            and any(a != v["expected_amount"] for a in v["charged_amounts"])
        ),
        "amount_unknown": amount_unknown,
        "unattributed_successes": unattributed,
    }
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: abs(len(v["charges"]) - 1),
        unsure=unattributed,
        undecided=missing_money_evidence(history, ledger, ctx),
        ok_message=f"{len(by_order)} order(s) shown as paid, each charged exactly once",
        bad_message=lambda n: f"{n} order(s) shown as paid without exactly one right charge",
        unsure_message=f"{unattributed} success(es) name no order_id: cannot match the ledger",
    )
