"""``keys_user_scoped``: one user's Idempotency-Key never replays another user's answer.

When two users send the same key, each must get an answer about their own order. A
body naming another order (or the other user's payment) is a leak and, for the second
user, an unpaid order shown as paid.
"""

from __future__ import annotations

from collections import defaultdict

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    body,
    completions,
    op_evidence,
    verdict,
)
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "keys_user_scoped"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in completions(history, {"confirm"}):
        if op.value.get("key") is not None and op.type == "ok":
            by_key[str(op.value["key"])].append(op)
    shared = {k: ops for k, ops in by_key.items() if len({o.value.get("user") for o in ops}) > 1}
    violations: list[Evidence] = []
    for ops in shared.values():
        for op in ops:
            data = body(op)
            answered = data.get("order_id") if isinstance(data, dict) else None
            if answered is not None and str(answered) != str(op.value.get("order_id")):
                violations.append(op_evidence(op, answered_order=answered))
    return verdict(
        NAME,
        {"keys_shared_by_users": len(shared), "leaked_answers": len(violations)},
        violations,
        unsure=0 if shared else 1,
        ok_message=f"{len(shared)} key(s) used by two users, each answered about its own order",
        bad_message=lambda n: f"{n} answer(s) were about another user's order",
        unsure_message="no key was answered for two different users",
    )
