"""Webhook steps: listen through the fake, wait for deliveries, replay and forge events.

The fake provider signs and delivers real events; the harness only registers the
target's endpoint, waits, resends old events out of order, and posts forged ones that a
correct checkout must refuse.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx

from fake_provider.webhooks import sign
from harness._tls import tls_context
from harness.drivers.api import summarize_response

if TYPE_CHECKING:
    from harness.interpreter import Interpreter

FORGER = "forger"


def _section(interp: Interpreter) -> Any:
    section = interp.profile.webhooks
    if section is None:
        from harness.interpreter import StepError

        raise StepError("this step needs the profile's [webhooks] section")
    return section


def listen(interp: Interpreter, duplicate: int, shuffle: bool) -> str:
    """Register the target's endpoint; each event is delivered ``duplicate`` times."""
    section = _section(interp)
    url = interp.target.base_url + section.path
    op = interp.history.invoke(
        "nemesis", "webhook_listen", {"url": url, "duplicate": duplicate, "shuffle": shuffle}
    )
    endpoint = interp.provider.register_webhook_endpoint(
        url, section.secret, duplicate=max(duplicate - 1, 0), shuffle=shuffle
    )
    interp.history.ok(op, {"endpoint": endpoint["id"]})
    return str(endpoint["id"])


def wait(interp: Interpreter) -> None:
    """Block until the fake delivered everything; record what our endpoints answered."""
    op = interp.history.invoke("nemesis", "webhook_wait")
    finished = interp.provider.flush_webhooks()
    mine = set(interp.state.webhook_endpoints)
    deliveries = [d for d in interp.provider.deliveries() if d["endpoint_id"] in mine]
    value = {"deliveries": deliveries, "flushed": finished}
    if finished:
        interp.history.ok(op, value)
    else:
        interp.history.info(op, {**value, "error": "deliveries still pending after 30 s"})


def replay(interp: Interpreter, order_id: str, times: int) -> None:
    """Resend every event about ``order_id``, newest first, ``times`` times."""
    field = interp.profile.provider.business_key
    events = [e for e in interp.provider.events() if _order_of(e, field) == order_id]
    op = interp.history.invoke(
        "nemesis", "webhook_replay", {"order_id": order_id, "events": [e["id"] for e in events]}
    )
    for _ in range(times):
        for event in sorted(events, key=lambda e: e.get("created", 0), reverse=True):
            interp.provider.resend_event(str(event["id"]))
    interp.history.ok(op)


def _order_of(event: dict[str, Any], field: str) -> str | None:
    obj = event.get("data", {}).get("object", {})
    metadata = obj.get("metadata") or {}
    value = metadata.get(field) if isinstance(metadata, dict) else None
    return None if value is None else str(value)


def forge(interp: Interpreter, order_id: str, how: str) -> None:
    """Post a 'payment succeeded' event for an unpaid order that was never charged."""
    section = _section(interp)
    amount = interp.state.amounts.get(order_id, 1000)
    now = int(time.time())
    intent = {
        "id": f"pi_forged_{uuid.uuid4().hex[:16]}", "object": "payment_intent",
        "amount": amount, "amount_received": amount, "currency": "usd",
        "status": "succeeded", "metadata": {interp.profile.provider.business_key: order_id},
    }  # fmt: skip
    event = {
        "id": f"evt_forged_{uuid.uuid4().hex[:16]}", "object": "event",
        "type": "payment_intent.succeeded", "created": now, "livemode": False,
        "data": {"object": intent},
    }  # fmt: skip
    payload = json.dumps(event)
    headers = {"Content-Type": "application/json"}
    if how == "bad_signature":
        headers["Stripe-Signature"] = sign(payload, "whsec_not_the_secret", now)
    elif how == "stale":
        headers["Stripe-Signature"] = sign(payload, section.secret, now - 3600)
    url = interp.target.base_url + section.path
    op = interp.history.invoke(
        FORGER, "forged_webhook",
        {"order_id": order_id, "forged": how, "request": {"method": "POST", "url": url}},
    )  # fmt: skip
    try:
        response = httpx.post(
            url, content=payload, headers=headers, timeout=10, verify=tls_context()
        )
    except httpx.HTTPError as exc:
        interp.history.info(op, {"error": f"{type(exc).__name__}: {exc}", "outcome": "unknown"})
        return
    summary = summarize_response(response)
    if 400 <= response.status_code < 500:
        interp.history.fail(op, {"response": summary})
    else:
        interp.history.ok(op, {"response": summary})
