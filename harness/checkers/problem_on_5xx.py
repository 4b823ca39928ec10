"""``problem_on_5xx``: every 5xx answer is an RFC 9457 problem document.

The response must be ``application/problem+json`` and its body an object with ``type``
and ``title``, so a client (and a person) can act on it.
"""

from __future__ import annotations

from harness.checkers._base import (
    CheckContext,
    CheckResult,
    body,
    completions,
    op_evidence,
    response_header,
    status,
    verdict,
)
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "problem_on_5xx"
SEVERITY: Severity = "hygiene"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    violations: list[Evidence] = []
    seen = 0
    for op in completions(history):
        code = status(op)
        if code is None or code < 500:
            continue
        seen += 1
        content_type = (response_header(op, "content-type") or "").lower()
        data = body(op)
        missing = [f for f in ("type", "title") if not (isinstance(data, dict) and data.get(f))]
        if not content_type.startswith("application/problem+json") or missing:
            violations.append(
                op_evidence(
                    op,
                    content_type=content_type or None,
                    missing_fields=missing,
                    body_excerpt=str(data)[:200],
                )
            )
    counts = {"responses_5xx": seen, "not_problem_json": len(violations)}
    return verdict(
        NAME,
        counts,
        violations,
        ok_message=f"{seen} 5xx answer(s), all problem+json with type and title",
        bad_message=lambda n: f"{n} 5xx answer(s) are not problem+json with type and title",
    )
