"""Webhooks: forged and stale ones refused; duplicates and out-of-order ones harmless."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _checkout_support import WEBHOOK_SECRET, FakeControl, checkout_env, new_key

from harness._process import ServerProcess
from reference_app.webhooks import SignatureError, sign, verify


@pytest.fixture(scope="module")
def server(
    fake_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """SQLite checkout whose reconciler runs only at startup: webhooks must do the settling."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('wh') / 'wh.sqlite3'}"
    env = checkout_env(db_url, fake_server.url, NODOUBLE_RECONCILE_INTERVAL_SECONDS="0")
    with ServerProcess("reference_app.app:create_app", env=env) as process:
        yield process


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/api/session", json={"user": "carol"}).status_code == 200
        yield http


def _pending_payment(client: httpx.Client, fake: FakeControl) -> tuple[str, str, str]:
    """An order whose charge happened but whose answer never came: (order, payment, intent)."""
    order_id = client.post("/api/orders", json={"items": [{"sku": "mug-white", "quantity": 1}]})
    order_id = order_id.json()["order_id"]
    fake.set_fault(endpoint="POST /v1/payment_intents", mode="error_after", count=4)
    response = client.post(
        f"/api/orders/{order_id}/confirm",
        json={"payment_method": "pm_card_visa"},
        headers={"Idempotency-Key": new_key()},
    )
    fake.clear_faults()
    assert response.status_code == 202, response.text
    charges = fake.charges(order_id)
    assert len(charges) == 1
    return order_id, response.json()["payment_id"], charges[0]["intent_id"]


def _event(kind: str, payment_id: str, intent_id: str) -> dict[str, Any]:
    return {
        "id": "evt_" + new_key(),
        "object": "event",
        "type": f"payment_intent.{kind}",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "status": "succeeded" if kind == "succeeded" else "requires_payment_method",
                "metadata": {"payment_id": payment_id},
            }
        },
    }


def _deliver(client: httpx.Client, event: dict[str, Any], *, secret: str = WEBHOOK_SECRET,
             timestamp: int | None = None) -> Any:  # fmt: skip
    body = json.dumps(event).encode()
    header = sign(body, secret, int(time.time()) if timestamp is None else timestamp)
    return client.post(
        "/webhooks/provider",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def test_duplicated_success_event_settles_once(client: httpx.Client, fake: FakeControl) -> None:
    order_id, payment_id, intent_id = _pending_payment(client, fake)
    event = _event("succeeded", payment_id, intent_id)

    first = _deliver(client, event)
    second = _deliver(client, event)

    assert first.status_code == 200 and first.json()["handling"] == "processed"
    assert second.status_code == 200 and second.json()["handling"] == "duplicate"
    order = client.get(f"/api/orders/{order_id}").json()
    assert order["status"] == "paid"
    assert order["payment"]["status"] == "CONFIRMED"
    assert order["payment"]["provider_payment_intent"] == intent_id
    assert fake.order(order_id)["charges"] == 1


def test_failure_arriving_after_success_never_moves_it_back(
    client: httpx.Client, fake: FakeControl
) -> None:
    order_id, payment_id, intent_id = _pending_payment(client, fake)
    assert _deliver(client, _event("succeeded", payment_id, intent_id)).status_code == 200
    late = _deliver(client, _event("payment_failed", payment_id, intent_id))

    assert late.status_code == 200
    order = client.get(f"/api/orders/{order_id}").json()
    assert order["status"] == "paid"
    assert order["payment"]["status"] == "CONFIRMED"


def test_forged_and_stale_signatures_are_refused(client: httpx.Client, fake: FakeControl) -> None:
    order_id, payment_id, intent_id = _pending_payment(client, fake)
    event = _event("succeeded", payment_id, intent_id)

    forged = _deliver(client, event, secret="whsec_attacker")
    stale = _deliver(client, event, timestamp=int(time.time()) - 301)
    unsigned = client.post("/webhooks/provider", content=json.dumps(event).encode())

    for response in (forged, stale, unsigned):
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get(f"/api/orders/{order_id}").json()["payment"]["status"] == "PENDING"
    # the refused deliveries were not recorded: the genuine one still applies
    assert _deliver(client, event).json()["handling"] == "processed"


def test_verify_accepts_any_matching_v1_and_rejects_tampering() -> None:
    body = b'{"id": "evt_1"}'
    now = 1_700_000_000
    good = sign(body, "whsec_x", now)
    verify(body, good + ",v1=deadbeef", "whsec_x", now=now)
    verify(body, "v1=00," + good, "whsec_x", now=now + 299)
    for header in (None, "", "t=abc,v1=00", "t=1", good.replace("v1=", "v0=")):
        with pytest.raises(SignatureError):
            verify(body, header, "whsec_x", now=now)
    with pytest.raises(SignatureError):
        verify(body + b" ", good, "whsec_x", now=now)
    with pytest.raises(SignatureError):
        verify(body, good, "whsec_x", now=now - 301)
