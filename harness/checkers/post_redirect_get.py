"""``post_redirect_get``: the Pay form POST is answered with a redirect to a GET.

Post/Redirect/Get keeps the payment POST out of the browser's history, so Reload and Back
cannot re-send it. Judged: the answers the browser loaded as a page to a POST the driver
marked as the Pay submit (``payment_page == "pay"`` on a ``documents`` entry of method
POST): the form POST a click on Pay fired, and any re-send of it by reload, back or
forward. ``303 See Other`` passes, and so does ``302 Found`` (every browser follows it
with a GET); any other answer below 500 is a violation (a 5xx is an error page, judged
by ``problem_on_5xx``). Form POSTs that are not the Pay form (sign-in, add to cart) are
not judged, nor are ``fetch``/XHR POSTs of a single-page checkout (API calls, not forms).

Unknown when no Pay form POST was recorded, or when one left the browser but no answer
to it was ever loaded.
"""

from __future__ import annotations

from typing import Any

from harness.checkers._base import CheckContext, CheckResult, completions, op_evidence, verdict
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "post_redirect_get"
SEVERITY: Severity = "hygiene"
REDIRECTS_TO_GET = frozenset({302, 303})


def _entries(value: Any) -> list[dict[str, Any]]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _is_post(entry: dict[str, Any]) -> bool:
    return str(entry.get("method") or "").upper() == "POST"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    judged = errors = 0
    pay_forms_sent = 0
    for op in completions(history):
        if op.value.get("pay"):
            pay_forms_sent += sum(
                1 for p in _entries(op.value.get("posts"))
                if _is_post(p) and p.get("navigation") and p.get("failure") is None
            )  # fmt: skip
        for doc in _entries(op.value.get("documents")):
            if not _is_post(doc) or doc.get("payment_page") != "pay":
                continue
            code = doc.get("status")
            if not isinstance(code, int) or code >= 500:
                errors += 1
                continue
            judged += 1
            if code not in REDIRECTS_TO_GET:
                violations.append(op_evidence(op, post_url=doc.get("url"), post_status=code))
    unseen = int(judged == 0 and errors == 0 and pay_forms_sent > 0)
    counts = {"pay_form_posts": judged, "not_redirected": len(violations)}
    counts["error_answers"] = errors
    counts["unobserved"] = unseen
    return verdict(
        NAME,
        counts,
        violations,
        unsure=unseen or int(judged == 0),
        ok_message=f"{judged} Pay form POST(s), all answered with a redirect to a GET",
        bad_message=lambda n: f"{n} Pay form POST(s) not answered 303 See Other (or 302)",
        unsure_message=(
            "the Pay form POST left the browser but no answer to it was recorded"
            if unseen
            else "no answered Pay form POST was recorded: nothing to judge"
        ),
    )
