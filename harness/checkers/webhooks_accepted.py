"""``webhooks_accepted``: genuine, signed provider events are acknowledged with a 2xx.

A checkout that answers a duplicate or late event with an error makes the provider
retry for days; the event must be acknowledged and ignored, not refused.
"""

from __future__ import annotations

from typing import Any

from harness.checkers._base import CheckContext, CheckResult, completions, verdict
from harness.history import History
from harness.ledger import LedgerView
from harness.types import Evidence, Severity

NAME = "webhooks_accepted"
SEVERITY: Severity = "hygiene"


def check(history: History, ledger: LedgerView, ctx: CheckContext) -> CheckResult:
    waits = completions(history, {"webhook_wait"})
    final: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for op in waits:
        for delivery in op.value.get("deliveries") or []:
            ident = (delivery["event_id"], delivery["endpoint_id"], delivery.get("copy"))
            final[ident] = delivery
    violations: list[Evidence] = [
        {"event_id": d["event_id"], "event_type": d.get("event_type"), "status": d.get("status"),
         "error": d.get("error"), "op": waits[-1].index}
        for d in final.values()
        if not (isinstance(d.get("status"), int) and 200 <= d["status"] < 300)
    ]  # fmt: skip
    pending = sum(1 for op in waits if op.type == "info")
    return verdict(
        NAME,
        {"deliveries": len(final), "refused": len(violations)},
        violations,
        unsure=1 if not final or pending else 0,
        ok_message=f"{len(final)} delivery(ies) of genuine events, all acknowledged",
        bad_message=lambda n: f"{n} genuine event delivery(ies) were not acknowledged with 2xx",
        unsure_message="no delivery was observed, or deliveries were still pending",
    )
