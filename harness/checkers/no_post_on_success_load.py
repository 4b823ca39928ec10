"""``no_post_on_success_load``: loading, reloading or going back to/from a success page
fires no POST.

A browser that re-sends the payment form on reload (no Post/Redirect/Get) or a success
page that pays again on load never charges twice if the checkout is idempotent, but it
puts the customer one bug away from it. A navigation is judged when it lands on the
success page or leaves it (the previous op of the same process showed it); ``posts`` is
the list of POSTs the page fired. A judged op without ``posts`` cannot be judged.
"""

from __future__ import annotations

from harness.checkers._base import CheckContext, CheckResult, completions, op_evidence, verdict
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "no_post_on_success_load"
SEVERITY: Severity = "hygiene"
NAVIGATIONS = frozenset({"page_load", "reload", "back", "forward"})


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    previous_state: dict[str, object] = {}
    violations: list[Evidence] = []
    judged = unobserved = 0
    for op in completions(history):
        was = previous_state.get(op.process)
        if "page_state" in op.value:
            previous_state[op.process] = op.value.get("page_state")
        if op.f not in NAVIGATIONS:
            continue
        if op.value.get("page_state") != "success" and was != "success":
            continue
        posts = op.value.get("posts")
        if not isinstance(posts, list):
            unobserved += 1
            continue
        judged += 1
        if posts:
            violations.append(op_evidence(op, posts=posts, from_state=was))
    counts = {"success_navigations": judged, "with_posts": len(violations)}
    counts["unobserved"] = unobserved
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["posts"]),
        unsure=unobserved or int(judged == 0),
        ok_message=f"{judged} navigation(s) to or from a success page fired no POST",
        bad_message=lambda n: f"{n} navigation(s) to or from a success page fired a POST",
        unsure_message=(
            f"{unobserved} navigation(s) of a success page were recorded without 'posts'"
            if unobserved
            else "no navigation reached or left a success page: nothing to judge"
        ),
    )
