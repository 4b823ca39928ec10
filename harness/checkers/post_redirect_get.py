"""``post_redirect_get``: every confirm form POST is answered ``303 See Other``.

Post/Redirect/Get keeps the payment POST out of the browser's history, so reload and back
cannot re-send it. Judged: every main-document POST response a browser op saw (its
``documents`` with method POST), so also a POST that reload or back re-sent. A ``submit``
whose form POST left (a ``posts`` entry with ``navigation``) but whose answer was not
recorded cannot be judged. ``fetch``/``xhr`` POSTs of a single-page app are API calls,
not form posts, and are not judged.
"""

from __future__ import annotations

from typing import Any

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    completions,
    op_evidence,
    status,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "post_redirect_get"
BROWSER_FS = frozenset({"page_load", "click", "back", "forward", "reload", "submit"})


def _document_posts(posts: Any) -> list[dict[str, Any]]:
    if not isinstance(posts, list):
        return []
    return [
        p
        for p in posts
        if isinstance(p, dict)
        and str(p.get("method") or "POST").upper() == "POST"
        and p.get("resource_type") in (None, "document")
    ]


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    judged = unobserved = 0
    for op in completions(history, BROWSER_FS):
        if op.type == "info":
            continue
        documents = op.value.get("documents")
        statuses: list[tuple[Any, Any]] = [
            (d.get("status"), d.get("url"))
            for d in (documents if isinstance(documents, list) else [])
            if isinstance(d, dict) and str(d.get("method", "")).upper() == "POST"
        ]
        sent = [p for p in _document_posts(op.value.get("posts")) if p.get("navigation", True)]
        if op.f == "submit" and not statuses and (sent or status(op) is not None):
            statuses = [(status(op), op.value.get("url"))]
        for code, url in statuses:
            if not isinstance(code, int):
                unobserved += 1
                continue
            judged += 1
            if code != 303:
                violations.append(op_evidence(op, post_url=url, post_status=code))
    counts = {"form_posts": judged, "not_303": len(violations), "unobserved": unobserved}
    return verdict(
        NAME,
        counts,
        violations,
        unsure=unobserved or int(judged == 0),
        ok_message=f"{judged} form POST(s), all answered 303",
        bad_message=lambda n: f"{n} form POST(s) not answered 303 See Other",
        unsure_message=(
            f"{unobserved} form POST(s) were recorded without a status"
            if unobserved
            else "no form POST was recorded: nothing to judge"
        ),
    )
