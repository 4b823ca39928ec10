"""``no_repost_on_navigation``: Back, Forward and Reload never make the browser re-POST.

Reloading a page that answered a POST directly (no Post/Redirect/Get) makes Chromium send
the payment form again, silently; with caching, Back does too. The browser driver marks
such an operation ``reposted`` when a navigation POST left the browser during a reload,
back or forward. Each one is a violation, charged or not.
"""

from __future__ import annotations

from harness.checkers._base import CheckContext, CheckResult, completions, op_evidence, verdict
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "no_repost_on_navigation"
SEVERITY: Severity = "hygiene"
MOVES = frozenset({"reload", "back", "forward"})


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    moves = completions(history, MOVES)
    observed = [op for op in moves if isinstance(op.value.get("reposted"), bool)]
    violations: list[Evidence] = [
        op_evidence(op, posts=op.value.get("posts")) for op in observed if op.value["reposted"]
    ]
    return verdict(
        NAME,
        {"history_moves": len(observed), "reposted": len(violations)},
        violations,
        unsure=0 if observed else 1,
        ok_message=f"{len(observed)} back/forward/reload move(s), none re-sent a POST",
        bad_message=lambda n: f"{n} back/forward/reload move(s) re-sent a POST",
        unsure_message="no back, forward or reload was recorded: nothing to judge",
    )
