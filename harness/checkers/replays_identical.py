"""``replays_identical``: a retried request gets the same answer as the original.

For each ``(user, key, request)`` (method, URL and body), every confirm/submit completion
that got a *final* answer (a response that is neither pending, 202/409, nor a 5xx) must
carry the same status and body as the first final answer. Headers are not compared (they
hold dates and request ids), except ``Location`` on a redirect, which is the redirect's
answer. The replay header a target may send is never trusted: only what the client received
counts. A key reused with another body is a different request (``changed_body_refused``
judges it), and a key whose retries never got a second final answer has nothing to compare:
both are counted, neither is a violation.

Hygiene: a replay that differs in a timestamp costs nobody money; one that turns "paid"
into "failed" is judged as money by ``told_the_truth``.
"""

from __future__ import annotations

import json
from typing import Any

from harness.checkers._base import (
    PAYMENT_FS,
    CheckContext,
    CheckResult,
    body,
    completions,
    op_evidence,
    response_header,
    status,
    verdict,
)
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "replays_identical"
SEVERITY: Severity = "hygiene"


def _final(op: Op) -> bool:
    code = status(op)
    return code is not None and code not in (202, 409) and code < 500


def _answer(op: Op) -> tuple[int | None, Any, str | None]:
    code = status(op)
    location = response_header(op, "location") if code and 300 <= code < 400 else None
    return code, body(op), location


def _diff(a: Any, b: Any) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return [] if a == b else ["<body>"]


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    groups: dict[tuple[str, str, str], list[Op]] = {}
    unkeyed = 0
    for op in completions(history, PAYMENT_FS):
        key = op.value.get("key")
        if not key:
            unkeyed += 1
            continue
        request = op.value.get("request")
        sent = request.get("body") if isinstance(request, dict) else None
        target = (
            f"{request.get('method')} {request.get('url')}" if isinstance(request, dict) else ""
        )
        fingerprint = json.dumps([target, sent], sort_keys=True)
        group = (str(op.value.get("user") or ""), str(key), fingerprint)
        groups.setdefault(group, []).append(op)
    violations: list[Evidence] = []
    compared = unjudged = 0
    for (user, key, _), ops in groups.items():
        final = [op for op in ops if _final(op)]
        if len(ops) > 1 and len(final) < 2:
            unjudged += 1
        if len(final) < 2:
            continue
        original = final[0]
        bad = []
        for replay in final[1:]:
            compared += 1
            if _answer(replay) != _answer(original):
                bad.append(replay)
        if bad:
            violations.append(
                op_evidence(
                    bad[0],
                    user=user,
                    key=key,
                    original=original.index,
                    original_status=status(original),
                    replay_status=status(bad[0]),
                    differs=_diff(body(original), body(bad[0])),
                    mismatched_replays=[op.index for op in bad],
                )
            )
    counts = {
        "keys": len(groups),
        "replays_compared": compared,
        "mismatched_keys": len(violations),
        "unjudged_keys": unjudged,
        "unkeyed": unkeyed,
    }
    return verdict(
        NAME,
        counts,
        violations,
        severity=lambda v: len(v["mismatched_replays"]),
        ok_message=(
            f"{compared} replay(s) answered exactly like their original"
            + (f"; {unjudged} retried key(s) had only one final answer" if unjudged else "")
        ),
        bad_message=lambda n: f"{n} key(s) got a different answer on replay",
    )
