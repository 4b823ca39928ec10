"""``no_store_on_payment_pages``: pages that show or take a payment are never cached.

Such pages must carry ``Cache-Control`` with ``no-store``, so that Back and shared caches
never show (or replay) a stale payment page. Judged, and nothing else:

- browser ops: what the driver marked as a payment page (``payment_page`` set on an entry
  of ``documents``, ``posts`` or ``late_answers``): the confirm page (``"confirm"``), the
  answer to the Pay submit, a form POST's or a single-page checkout's ``fetch``
  (``"pay"``), and the success page (``"success"``), when it answered 2xx. A redirect
  carries no page and an error answer shows no payment (``problem_on_5xx`` judges errors);
  forms that are not the Pay form (sign-in, add to cart) are not payments. A page restored
  from the back-forward cache has no document and is not judged;
- API ops: the answer of every confirm (a payment request with a ``request``); one
  recorded without headers cannot be judged.

A history with nothing of the sort to judge (a driver that marks no payment page, a run
that never reached one) is unknown, never valid.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from harness.types import Evidence, Severity

NAME = "no_store_on_payment_pages"
SEVERITY: Severity = "hygiene"
BROWSER_KEYS = ("documents", "posts", "late_answers")


def _api_in_scope(op: Op) -> bool:
    request = op.value.get("request")
    method = request.get("method") if isinstance(request, dict) else None
    return op.f in PAYMENT_FS and str(method or "POST").upper() != "GET"


def _payment_answers(op: Op) -> Iterator[dict[str, Any]]:
    """The 2xx answers of payment pages a browser op recorded (each exchange once)."""
    for key in BROWSER_KEYS:
        entries = op.value.get(key)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not entry.get("payment_page"):
                continue
            if key == "posts" and entry.get("navigation"):
                continue  # a form POST's answer is one of the op's documents
            code = entry.get("status")
            if isinstance(code, int) and 200 <= code < 300:
                yield entry


def _browser_op(op: Op) -> bool:
    return any(isinstance(op.value.get(key), list) for key in BROWSER_KEYS)


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    judged = unobserved = 0
    for op in completions(history):
        if _browser_op(op):
            for answer in _payment_answers(op):
                judged += 1
                cache_control = answer.get("cache_control")
                if not isinstance(cache_control, str) or "no-store" not in cache_control.lower():
                    violations.append(
                        op_evidence(
                            op,
                            document=answer.get("url"),
                            method=answer.get("method"),
                            payment_page=answer.get("payment_page"),
                            cache_control=cache_control,
                        )
                    )
            continue
        if op.type == "info" or not _api_in_scope(op) or "request" not in op.value:
            continue
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
        ok_message=f"{judged} payment page(s) and answer(s), all Cache-Control: no-store",
        bad_message=lambda n: f"{n} payment page(s) or answer(s) without Cache-Control: no-store",
        unsure_message=(
            f"{unobserved} payment answer(s) were recorded without headers"
            if unobserved
            else "no page that shows or takes a payment was recorded: nothing to judge"
        ),
    )
