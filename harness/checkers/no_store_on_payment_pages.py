"""``no_store_on_payment_pages``: payment pages and answers are never cached.

Responses of confirm pages (``page_state == "confirm"``), of confirm POSTs (API confirm,
browser form POSTs) and of success pages must carry ``Cache-Control`` with ``no-store``,
so that the back button and shared caches never show (or replay) a stale payment page.

API ops are judged by ``response.headers``. Browser ops by their ``documents`` (the
main-document responses the driver saw, with ``cache_control``): every POST document, and
the last document when the page is a confirm or success page, and the POSTs a click on
Pay fired (a single-page checkout's fetch) with their answers. A page restored from the
back-forward cache has no document and is not judged; an API op in scope without headers
cannot be judged.
"""

from __future__ import annotations

from typing import Any

from harness.checkers._base import (
    PAYMENT_FS,
    CheckContext,
    CheckResult,
    completions,
    header,
    op_evidence,
    response,
    verdict,
)
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.types import Evidence

NAME = "no_store_on_payment_pages"


def _in_scope(op: Op) -> bool:
    if op.value.get("page_state") in ("confirm", "success"):
        return True
    request = op.value.get("request")
    method = request.get("method") if isinstance(request, dict) else None
    return op.f in PAYMENT_FS and str(method or "POST").upper() == "POST"


def _documents(op: Op) -> list[dict[str, Any]]:
    docs = [d for d in op.value.get("documents") or [] if isinstance(d, dict)]
    judged = [d for d in docs if str(d.get("method", "")).upper() == "POST"]
    if docs and op.value.get("page_state") in ("confirm", "success") and docs[-1] not in judged:
        judged.append(docs[-1])
    if op.value.get("pay"):  # what a click on Pay fired: a form POST or an API fetch
        judged.extend(
            p for p in op.value.get("posts") or []
            if isinstance(p, dict) and "status" in p and not p.get("navigation")
        )  # fmt: skip
    return judged


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    judged = unobserved = 0
    for op in completions(history):
        if op.type == "info":
            continue
        if isinstance(op.value.get("documents"), list):
            for doc in _documents(op):
                judged += 1
                cache_control = doc.get("cache_control")
                if not isinstance(cache_control, str) or "no-store" not in cache_control.lower():
                    violations.append(
                        op_evidence(
                            op,
                            document=doc.get("url"),
                            method=doc.get("method"),
                            cache_control=cache_control,
                        )
                    )
            continue
        if not _in_scope(op) or "request" not in op.value:
            continue  # a browser observation (no exchange of its own) or out of scope
        resp = response(op)
        headers = resp.get("headers") if resp else None
        if not isinstance(headers, dict):
            unobserved += 1
            continue
        judged += 1
        cache_control = header(headers, "cache-control")
        if cache_control is None or "no-store" not in cache_control.lower():
            violations.append(op_evidence(op, cache_control=cache_control))
    counts = {"payment_responses": judged, "cacheable": len(violations)}
    counts["unobserved"] = unobserved
    return verdict(
        NAME,
        counts,
        violations,
        unsure=unobserved or int(judged == 0),
        ok_message=f"{judged} payment response(s), all Cache-Control: no-store",
        bad_message=lambda n: f"{n} payment response(s) without Cache-Control: no-store",
        unsure_message=(
            f"{unobserved} payment response(s) were recorded without headers"
            if unobserved
            else "no payment page or confirm answer was recorded: nothing to judge"
        ),
    )
