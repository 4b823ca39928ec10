"""Webhook events: signature, async delivery, duplicates, shuffling, retries, resend."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError
from fake_provider.webhooks import sign

SECRET = "whsec_test_secret"


def _pay(api: httpx.Client, order_id: str, pm: str = "pm_card_visa") -> httpx.Response:
    form = {
        "amount": "100",
        "currency": "usd",
        "metadata[order_id]": order_id,
        "payment_method": pm,
        "confirm": "true",
    }
    return api.post("/v1/payment_intents", data=form)


def test_signature_is_hmac_of_timestamp_and_body(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    fake.register_webhook_endpoint(receiver.url, SECRET)
    _pay(api, "w-1")
    _pay(api, "w-2", "pm_card_chargeDeclined")
    assert fake.flush_webhooks()
    types = []
    for got in receiver.received:
        header = dict(part.split("=", 1) for part in got.headers["Stripe-Signature"].split(","))
        expected = hmac.new(SECRET.encode(), f"{header['t']}.".encode() + got.body, hashlib.sha256)
        assert hmac.compare_digest(header["v1"], expected.hexdigest())
        assert abs(int(header["t"]) - time.time()) < 60
        event = json.loads(got.body)
        assert event["id"].startswith("evt_") and event["object"] == "event"
        assert event["livemode"] is False and event["api_version"]
        types.append(event["type"])
    assert types == ["payment_intent.succeeded", "payment_intent.payment_failed"]
    assert sign("{}", SECRET, 1).startswith("t=1,v1=")


def test_delivery_does_not_block_the_api(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    fake.register_webhook_endpoint(receiver.url, SECRET, delay_ms=1000)
    started = time.monotonic()
    assert _pay(api, "w-3").status_code == 200
    assert time.monotonic() - started < 0.8
    assert receiver.received == []
    assert fake.flush_webhooks()
    assert len(receiver.received) == 1


def test_duplicates_and_shuffle(api: httpx.Client, fake: FakeProviderClient, receiver: Any) -> None:
    fake.register_webhook_endpoint(
        receiver.url, SECRET, ["payment_intent.succeeded"], duplicate=2, shuffle=True, delay_ms=800
    )
    order = [f"s-{i}" for i in range(8)]
    for order_id in order:
        _pay(api, order_id)
    assert fake.flush_webhooks()
    seen = [json.loads(r.body)["data"]["object"]["metadata"]["order_id"] for r in receiver.received]
    assert sorted(seen) == sorted(order * 3)
    firsts = list(dict.fromkeys(seen))
    assert firsts != order  # shuffled (8! orders: a false failure is 1 in 40320)
    copies = [d["copy"] for d in fake.deliveries()]
    assert sorted(set(copies)) == [0, 1, 2]


def test_retries_non_2xx_and_resend(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    receiver.fail_first = 2
    fake.register_webhook_endpoint(receiver.url, SECRET, max_attempts=3)
    _pay(api, "r-1")
    assert fake.flush_webhooks()
    attempts = [(d["attempt"], d["status"]) for d in fake.deliveries()]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    event_id = fake.events()[0]["id"]
    fake.resend_event(event_id)
    assert fake.flush_webhooks()
    assert len(receiver.received) == 4
    assert json.loads(receiver.received[-1].body)["id"] == event_id


def test_refund_emits_charge_refunded(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    fake.register_webhook_endpoint(receiver.url, SECRET, ["charge.refunded"])
    intent = _pay(api, "r-2").json()
    api.post("/v1/refunds", data={"payment_intent": intent["id"]})
    assert fake.flush_webhooks()
    (got,) = receiver.received
    charge = json.loads(got.body)["data"]["object"]
    assert (charge["object"], charge["refunded"], charge["id"]) == (
        "charge",
        True,
        intent["latest_charge"],
    )


def test_endpoints_are_removable_and_can_be_scoped_to_an_account(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    mine = fake.register_webhook_endpoint(receiver.url, SECRET, account="sk_test_nodouble")
    assert mine["id"].startswith("we_") and mine["account"] == "sk_test_nodouble"
    _pay(api, "acct-1")
    other = {"Authorization": "Bearer sk_test_someone_else"}
    api.post(
        "/v1/payment_intents",
        data={
            "amount": "100",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "metadata[order_id]": "acct-2",
        },
        headers={**other, "Idempotency-Key": "evt-key"},
    )
    assert fake.flush_webhooks()
    (got,) = receiver.received  # only the scoped account's event
    event = json.loads(got.body)
    assert event["data"]["object"]["metadata"]["order_id"] == "acct-1"
    assert event["request"]["id"].startswith("req_") and "sk_test" not in got.body.decode()
    keyed = [e for e in fake.events() if e["request"]["idempotency_key"] == "evt-key"]
    assert len(keyed) == 1 and len(fake.events()) == 2
    fake.delete_webhook_endpoint(mine["id"])
    assert fake.webhook_endpoints() == []
    with pytest.raises(FakeProviderError, match="404"):
        fake.delete_webhook_endpoint(mine["id"])
    _pay(api, "acct-3")
    fake.resend_event(keyed[0]["id"])
    assert fake.flush_webhooks()
    assert len(receiver.received) == 1  # nothing goes to a removed endpoint


def test_removing_an_endpoint_drops_its_queue(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    slow = fake.register_webhook_endpoint(receiver.url, SECRET, delay_ms=500)
    _pay(api, "q-1")
    fake.delete_webhook_endpoint(slow["id"])
    assert fake.flush_webhooks(timeout=5)
    assert receiver.received == [] and fake.deliveries() == []
