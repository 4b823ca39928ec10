"""``keys_user_scoped``: one user's Idempotency-Key never replays another user's answer.

When two users send the same key, each must get an answer about their own order, or a
refusal. A body naming another order (or the other user's payment) is a leak, and so is
a 2xx answer to a user about an order another user created (``ctx.owners``): for the
second user, an unpaid order shown as paid, or another customer's receipt.

Checkouts shape their answers differently (``{"order_id": ...}``, ``{"cart": {"id":
...}}``, ``{"purchase": {"ref": ...}}``), so the body is searched at any depth for the
order ids: any string value, and numbers under id-like field names. An answer that names
no order of the group at all cannot be judged: with no leak elsewhere the verdict is then
unknown, never valid.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

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
from harness.types import Evidence, Severity

NAME = "keys_user_scoped"
SEVERITY: Severity = "money"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in completions(history, {"confirm"}):
        if op.value.get("key") is not None and op.type != "info":
            by_key[str(op.value["key"])].append(op)
    shared = {k: ops for k, ops in by_key.items() if len({o.value.get("user") for o in ops}) > 1}
    violations: list[Evidence] = []
    silent = refused = 0
    for ops in shared.values():
        for op in ops:
            own = str(op.value.get("order_id"))
            owner = ctx.owners.get(own)
            others = {str(o.value.get("order_id")) for o in ops} - {own}
            if op.type != "ok":
                refused += 1
                continue
            named = _ids(body(op))
            if owner is not None and owner != op.value.get("user"):
                violations.append(
                    op_evidence(op, answered_order=own, owner=owner, reason="answered a "
                                "user about an order another user owns")
                )  # fmt: skip
            elif named & others:
                violations.append(op_evidence(op, answered_order=sorted(named & others)[0]))
            elif own not in named:
                silent += 1
    return verdict(
        NAME,
        {
            "keys_shared_by_users": len(shared),
            "leaked_answers": len(violations),
            "refused": refused,
            "answers_naming_no_order": silent,
        },
        violations,
        unsure=silent if shared else 1,
        ok_message=(
            f"{len(shared)} key(s) used by two users: {refused} refusal(s), every other "
            "answer about the asking user's own order"
        ),
        bad_message=lambda n: f"{n} answer(s) were about another user's order",
        unsure_message=(
            "no key was answered for two different users, or an answer names no order id"
        ),
    )


ID_FIELD = re.compile(r"(?i:(^|_)id$|^order)|[a-z]Id$")
"""Field names that may hold an order id: ``id``, ``order_id``, ``orderId``, ``cart_id``,
``order``; not ``paid``."""


def _ids(data: Any, name: str = "") -> set[str]:
    """The strings of a JSON body, and its numbers under id-like field names, at any depth
    (a quantity of 2 is not order "2")."""
    if isinstance(data, dict):
        return set().union(*(_ids(v, str(k)) for k, v in data.items()), set())
    if isinstance(data, list):
        return set().union(*(_ids(v, name) for v in data), set())
    if isinstance(data, str):
        return {data}
    if data is None or isinstance(data, bool) or not ID_FIELD.search(name):
        return set()
    return {str(data)}
