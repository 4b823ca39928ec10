"""The official stripe SDK, unchanged, against a real server process of the fake."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess

API_KEY = "sk_test_nodouble"


@pytest.fixture
def sdk(fake: FakeProviderClient, fake_server: ServerProcess) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": fake_server.url}, max_network_retries=0
    )


def _pay(order_id: str, **extra: Any) -> dict[str, Any]:
    return {"amount": 2000, "currency": "usd", "metadata": {"order_id": order_id}, **extra}


def test_create_confirm_retrieve_search_refund(
    sdk: stripe.StripeClient, fake: FakeProviderClient
) -> None:
    intent = sdk.v1.payment_intents.create(params=_pay("sdk-1"))
    assert intent.status == "requires_payment_method"
    confirmed = sdk.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded" and confirmed.amount_received == 2000
    fetched = sdk.v1.payment_intents.retrieve(intent.id)
    assert fetched.latest_charge == confirmed.latest_charge
    found = sdk.v1.payment_intents.search(params={"query": "metadata['order_id']:'sdk-1'"})
    assert [i.id for i in found.data] == [intent.id]
    refund = sdk.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})
    assert refund.amount == 500 and refund.charge == confirmed.latest_charge
    row = fake.summary()["keys"]["sdk-1"]
    assert (row["charges"], row["amount_charged"], row["amount_refunded"]) == (1, 2000, 500)


def test_global_api_base_and_replay_header(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    old = (stripe.api_base, stripe.api_key)
    stripe.api_base, stripe.api_key = fake_server.url, API_KEY
    try:
        params = _pay("sdk-2", payment_method="pm_card_visa", confirm=True)
        first = stripe.PaymentIntent.create(**params, idempotency_key="sdk-key")
        second = stripe.PaymentIntent.create(**params, idempotency_key="sdk-key")
    finally:
        stripe.api_base, stripe.api_key = old
    assert second.id == first.id
    assert first.last_response is not None and second.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert fake.summary()["keys"]["sdk-2"]["charges"] == 1


def test_mismatched_reuse_raises_idempotency_error(
    sdk: stripe.StripeClient, fake: FakeProviderClient
) -> None:
    sdk.v1.payment_intents.create(params=_pay("sdk-3"), options={"idempotency_key": "reuse"})
    with pytest.raises(stripe.IdempotencyError) as info:
        sdk.v1.payment_intents.create(
            params=_pay("sdk-3", description="changed"), options={"idempotency_key": "reuse"}
        )
    assert info.value.http_status == 400


def test_card_error_carries_the_intent(sdk: stripe.StripeClient, fake: FakeProviderClient) -> None:
    with pytest.raises(stripe.CardError) as info:
        sdk.v1.payment_intents.create(
            params=_pay(
                "sdk-4", payment_method="pm_card_chargeDeclinedInsufficientFunds", confirm=True
            )
        )
    assert info.value.code == "card_declined"
    assert info.value.error is not None
    assert info.value.error.decline_code == "insufficient_funds"
    assert info.value.error.payment_intent is not None
    assert info.value.error.payment_intent.status == "requires_payment_method"


def test_dropped_response_retried_by_the_sdk_charges_once(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    fake.set_fault("drop_after", "POST /v1/payment_intents", count=1)
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": fake_server.url}, max_network_retries=2
    )
    intent = client.v1.payment_intents.create(
        params=_pay("sdk-5", payment_method="pm_card_visa", confirm=True)
    )
    assert intent.status == "succeeded"
    assert intent.last_response is not None
    assert intent.last_response.headers["Idempotent-Replayed"] == "true"
    log = fake.requests()
    assert [r["fault"] is not None for r in log] == [True, False]
    assert log[0]["idempotency_key"] == log[1]["idempotency_key"] is not None
    charges = fake.charges("sdk-5")
    assert len(charges) == 1 and charges[0]["intent_id"] == intent.id


def test_webhook_verifies_with_construct_event(
    sdk: stripe.StripeClient, fake: FakeProviderClient, receiver: Any
) -> None:
    secret = "whsec_sdk_test"
    fake.register_webhook_endpoint(receiver.url, secret, ["payment_intent.succeeded"])
    intent = sdk.v1.payment_intents.create(
        params=_pay("sdk-6", payment_method="pm_card_visa", confirm=True)
    )
    assert fake.flush_webhooks()
    assert len(receiver.received) == 1
    got = receiver.received[0]
    event = stripe.Webhook.construct_event(got.body, got.headers["Stripe-Signature"], secret)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == intent.id
    assert json.loads(got.body)["data"]["object"]["metadata"] == {"order_id": "sdk-6"}
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got.body, got.headers["Stripe-Signature"], "whsec_wrong")
