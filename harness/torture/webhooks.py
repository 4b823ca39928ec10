"""Webhooks: every event delivered three times, shuffled, with forgeries and stale ones mixed in.

Real payments go through the checkout (one event each: ``payment_intent.succeeded`` or, for
every tenth order, ``payment_intent.payment_failed``). The fake's webhook endpoint for the
checkout is registered with ``duplicate=2`` and ``shuffle=true``. Some payments lose every
provider answer (``drop_after``) and the background reconciler is off, so only their webhook
can settle them. While the deliveries flow the torture code posts, itself, forged events
(signed with the wrong secret, or a valid signature over a changed body), stale ones (right
secret, timestamp an hour old) and unsigned ones, each trying to mark a paid order failed.

Expectations: forged, stale and unsigned events are refused (4xx) and leave no trace; every
genuine event is recorded exactly once in ``webhook_events``, processed; each delivery
was acknowledged; every order ends paid with one charge or failed with none.
"""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import sqlalchemy as sa

from harness.torture._figures import SectionResult
from harness.torture._stack import WEBHOOK_SECRET, Context, Shopper, audit, new_key
from reference_app.webhooks import sign

EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]
WORKERS = 6


def run(ctx: Context) -> SectionResult:
    result = SectionResult("webhooks", ctx.database, "3x shuffled deliveries, forged, stale")
    server = ctx.start_app(NODOUBLE_RECONCILE_INTERVAL_SECONDS="0")
    fake = ctx.fake()
    endpoint = fake.register_webhook_endpoint(
        server.url + "/webhooks/provider", WEBHOOK_SECRET, EVENTS, duplicate=2, shuffle=True
    )
    total = ctx.scale.webhook_events
    pending_only = min(20, max(2, total // 10))
    try:
        orders = _pay_with_lost_answers(server.url, fake, pending_only)
        orders += _pay(server.url, total - pending_only)
        forged = _attack(server.url, fake, result, orders)
        if not fake.flush_webhooks(timeout=300):
            result.expect("the fake delivered everything", False, "flush timed out")
    finally:
        fake.delete_webhook_endpoint(str(endpoint["id"]))
    order_ids = {order for order, _ in orders}
    events = [e for e in fake.events() if _order_of(e) in order_ids]
    deliveries = [d for d in fake.deliveries() if d["endpoint_id"] == endpoint["id"]]
    fake.close()
    _check_deliveries(result, events, deliveries)
    _check_recorded(ctx, result, events, forged)
    audit(ctx, sorted(order_ids), settle_s=10).record(result)
    result.figure("orders", len(order_ids))
    return result


def _order_of(event: Any) -> str | None:
    obj = event.get("data", {}).get("object", {})
    metadata = obj.get("metadata") or {}
    value = metadata.get("order_id")
    return value if isinstance(value, str) else None


def _pay(url: str, count: int) -> list[tuple[str, str]]:
    def work(worker: int) -> list[tuple[str, str]]:
        shopper = Shopper(url)
        done = []
        for i in range(worker, count, WORKERS):
            order_id = shopper.new_order()
            method = "pm_card_chargeDeclined" if i % 10 == 9 else "pm_card_visa"
            response = shopper.confirm(order_id, new_key(), method)
            if response.status_code not in (200, 402):
                raise RuntimeError(f"confirm answered {response.status_code}: {response.text}")
            done.append((order_id, method))
        shopper.close()
        return done

    with ThreadPoolExecutor(WORKERS) as pool:
        return [item for chunk in pool.map(work, range(WORKERS)) for item in chunk]


def _pay_with_lost_answers(url: str, fake: Any, count: int) -> list[tuple[str, str]]:
    """Payments charged at the provider whose every answer is lost: left PENDING (202)."""
    shopper = Shopper(url)
    done = []
    for _ in range(count):
        order_id = shopper.new_order()
        fake.set_fault("drop_after", "POST /v1/payment_intents", count=4)
        response = shopper.confirm(order_id, new_key())
        fake.clear_faults()
        if response.status_code not in (200, 202):  # 200: its webhook won the race
            raise RuntimeError(f"expected 202 after lost answers, got {response.status_code}")
        done.append((order_id, "pm_card_visa"))
    shopper.close()
    return done


def _attack(url: str, fake: Any, result: SectionResult, orders: list[tuple[str, str]]) -> list[str]:
    """Post forged, stale and unsigned events; return the ids of those events."""
    paid = {order for order, method in orders if method == "pm_card_visa"}
    genuine = [e for e in fake.events() if _order_of(e) in paid]
    ids: list[str] = []
    count = max(3, len(genuine) // 10)
    with httpx.Client(base_url=url, timeout=30) as http:
        for i, event in enumerate(genuine[:count]):
            forged = json.loads(json.dumps(event))
            forged["id"] = "evt_forged_" + secrets.token_hex(8)
            forged["type"] = "payment_intent.payment_failed"
            forged["data"]["object"]["status"] = "requires_payment_method"
            ids.append(forged["id"])
            body = json.dumps(forged).encode()
            now = int(time.time())
            kind = ("wrong_secret", "changed_body", "stale", "unsigned")[i % 4]
            if kind == "wrong_secret":
                header: str | None = sign(body, "whsec_attacker", now)
            elif kind == "changed_body":
                header = sign(json.dumps(event).encode(), WEBHOOK_SECRET, now)
            elif kind == "stale":
                header = sign(body, WEBHOOK_SECRET, now - 3600)
            else:
                header = None
            headers = {"Content-Type": "application/json"}
            if header is not None:
                headers["Stripe-Signature"] = header
            response = http.post("/webhooks/provider", content=body, headers=headers)
            result.add(f"{kind}_sent")
            if 400 <= response.status_code < 500:
                result.add(f"{kind}_rejected")
            else:
                result.expect(
                    f"{kind} event rejected", False, f"{response.status_code} {response.text}"
                )
    result.expect("forged and stale events were sent", bool(ids), "no paid order to attack")
    return ids


def _check_deliveries(result: SectionResult, events: list[Any], deliveries: list[Any]) -> None:
    per_event: dict[str, int] = {}
    for delivery in deliveries:
        per_event[delivery["event_id"]] = per_event.get(delivery["event_id"], 0) + 1
        status = delivery["status"]
        if status is None or not 200 <= status < 300:
            result.expect("every genuine delivery acknowledged", False, str(delivery))
    result.figure("events", len(events))
    result.figure("deliveries", len(deliveries))
    short = [e["id"] for e in events if per_event.get(e["id"], 0) < 3]
    result.expect("each event delivered at least three times", not short, short[:3])


def _check_recorded(
    ctx: Context, result: SectionResult, events: list[Any], forged: list[str]
) -> None:
    engine = sa.create_engine(ctx.database_url)
    ids = [e["id"] for e in events]
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT event_id, processed_at FROM webhook_events WHERE event_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids + forged},
            ).all()
    finally:
        engine.dispose()
    recorded = [str(r[0]) for r in rows]
    result.figure("events_recorded", sum(1 for r in recorded if r in set(ids)))
    leaked = [r for r in recorded if r in set(forged)]
    result.expect("no forged or stale event recorded", not leaked, leaked[:3])
    result.expect(
        "each genuine event recorded exactly once",
        sorted(r for r in recorded if r not in set(forged)) == sorted(ids),
        f"{len(recorded)} rows for {len(ids)} events",
    )
    unprocessed = [str(r[0]) for r in rows if r[1] is None]
    result.expect("each recorded event processed", not unprocessed, unprocessed[:3])
