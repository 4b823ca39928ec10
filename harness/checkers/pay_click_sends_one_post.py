"""``pay_click_sends_one_post``: a burst of clicks on Pay, with JavaScript on, sends one POST.

A page whose Pay button stays live submits the payment once per click: the checkout must
then dedupe every copy (it may, with a page key), and the customer sees the page start
over under their finger. A guarded button (disabled on the first submit, later submits
cancelled) lets exactly one confirm POST leave, whether a form post or a ``fetch``.

Judged: every ``click`` op on the Pay control (``value.pay``) and the POSTs it fired
(``value.posts``). Scenarios name this invariant only where JavaScript is on: without
JavaScript no page can guard its button, and the browser does send every click.
"""

from __future__ import annotations

from harness.checkers._base import CheckContext, CheckResult, completions, op_evidence, verdict
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "pay_click_sends_one_post"
SEVERITY: Severity = "hygiene"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    judged = unobserved = 0
    for op in completions(history, {"click"}):
        if not op.value.get("pay"):
            continue
        posts = op.value.get("posts")
        if not isinstance(posts, list):
            unobserved += 1
            continue
        judged += 1
        sent = [p for p in posts if isinstance(p, dict)
                and str(p.get("method") or "POST").upper() == "POST"]  # fmt: skip
        if len(sent) > 1:
            urls = [str(p.get("url")) for p in sent]
            violations.append(op_evidence(op, posts=len(sent), post_urls=urls))
    counts = {"pay_clicks": judged, "with_several_posts": len(violations)}
    counts["unobserved"] = unobserved
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: int(v["posts"]),
        unsure=unobserved or int(judged == 0),
        ok_message=f"{judged} burst(s) of clicks on Pay, each sent at most one POST",
        bad_message=lambda n: f"{n} burst(s) of clicks on Pay sent several POSTs",
        unsure_message=(
            f"{unobserved} click(s) on Pay were recorded without 'posts'"
            if unobserved
            else "no click on Pay was recorded: nothing to judge"
        ),
    )
