"""The provider client against Stripe's documented shapes (respx, no network)."""

from __future__ import annotations

import httpx
import pytest
import respx

from reference_app.provider import ChargeRequest, ProviderClient, ProviderUnavailable

BASE = "http://provider.test"
REQUEST = ChargeRequest("nodouble-pay-pay_1", 2500, "usd", "pm_card_visa", "ord_1", "pay_1")
INTENT = {"id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 2500}


def _client() -> ProviderClient:
    return ProviderClient(BASE, "sk_test_x", timeout=1, max_attempts=3, backoff=0)


@respx.mock
def test_success_sends_stripe_form_key_and_auth() -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").respond(200, json=INTENT)
    result = _client().create_and_confirm(REQUEST)

    assert (result.outcome, result.intent_id) == ("succeeded", "pi_1")
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "nodouble-pay-pay_1"
    assert sent.headers["Authorization"] == "Bearer sk_test_x"
    form = dict(httpx.QueryParams(sent.content.decode()))
    assert form["amount"] == "2500"
    assert form["confirm"] == "true"
    assert form["metadata[order_id]"] == "ord_1"
    assert form["metadata[payment_id]"] == "pay_1"


@respx.mock
def test_decline_is_declined_with_its_code() -> None:
    respx.post(f"{BASE}/v1/payment_intents").respond(402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "payment_intent": {"id": "pi_2"}}})  # fmt: skip
    result = _client().create_and_confirm(REQUEST)
    assert (result.outcome, result.code, result.intent_id) == (
        "declined", "insufficient_funds", "pi_2")  # fmt: skip


@respx.mock
def test_network_error_409_and_500_are_retried_with_the_same_key() -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").mock(side_effect=[
        httpx.ReadTimeout("lost"),
        httpx.Response(409, json={"error": {"code": "idempotency_key_in_use"}}),
        httpx.Response(200, json=INTENT),
    ])  # fmt: skip
    result = _client().create_and_confirm(REQUEST)
    assert result.outcome == "succeeded"
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert keys == {"nodouble-pay-pay_1"}
    assert route.call_count == 3


@respx.mock
def test_exhausted_retries_are_unknown_never_declined() -> None:
    route = respx.post(f"{BASE}/v1/payment_intents").respond(500, json={"error": {}})
    result = _client().create_and_confirm(REQUEST)
    assert result.outcome == "unknown"
    assert route.call_count == 3


@respx.mock
def test_idempotency_error_and_auth_error_are_unknown() -> None:
    respx.post(f"{BASE}/v1/payment_intents").mock(side_effect=[
        httpx.Response(400, json={"error": {"type": "idempotency_error"}}),
        httpx.Response(401, json={"error": {"type": "invalid_request_error"}}),
    ])  # fmt: skip
    assert _client().create_and_confirm(REQUEST).outcome == "unknown"
    assert _client().create_and_confirm(REQUEST).outcome == "unknown"


@respx.mock
def test_search_prefers_a_succeeded_intent_and_reports_none() -> None:
    route = respx.get(f"{BASE}/v1/payment_intents/search").mock(side_effect=[
        httpx.Response(200, json={"data": [
            {"id": "pi_a", "status": "requires_payment_method"}, INTENT]}),
        httpx.Response(200, json={"data": []}),
        httpx.Response(503),
    ])  # fmt: skip
    client = _client()
    found = client.find_by_payment_id("pay_1")
    assert found is not None and found.intent_id == "pi_1"
    assert route.calls.last.request.url.params["query"] == "metadata['payment_id']:'pay_1'"
    assert client.find_by_payment_id("pay_1") is None
    with pytest.raises(ProviderUnavailable):
        client.find_by_payment_id("pay_1")


@respx.mock
def test_retrieve_reads_the_intent_and_is_unknown_when_the_provider_cannot_answer() -> None:
    respx.get(f"{BASE}/v1/payment_intents/pi_1").mock(side_effect=[
        httpx.Response(200, json={**INTENT, "status": "requires_capture"}),
        httpx.Response(500, json={"error": {}}),
        httpx.ConnectError("down"),
    ])  # fmt: skip
    client = _client()
    assert (client.retrieve("pi_1").outcome, client.retrieve("pi_1").outcome) == (
        "authorized", "unknown")  # fmt: skip
    lost = client.retrieve("pi_1")
    assert (lost.outcome, lost.intent_id) == ("unknown", "pi_1")
    assert "retrieve failed" in (lost.detail or "")


def test_resume_of_a_payment_awaiting_3ds_keeps_its_capture_method() -> None:
    from reference_app.checkout import ConfirmRequest, resume
    from reference_app.models import Payment

    payment = Payment(
        id="pay_1", order_id="ord_1", status="PENDING", amount=2500, currency="usd",
        payment_method="pm_card_threeDSecure2Required", capture_method="manual",
        provider_idempotency_key="nodouble-pay-pay_1", provider_payment_intent="pi_1",
        action_url="http://provider.test/3ds/pi_1", return_url="http://shop.test/back",
    )  # fmt: skip
    request = ConfirmRequest(
        "u1", "ord_1", "k2", {"payment_method": "pm_card_visa"}, "POST", "/confirm"
    )
    charge = resume(7, payment, request)
    assert charge.reconfirm == "pi_1"
    assert charge.request.capture_method == "manual"
    assert charge.request.provider_key == "nodouble-pay-pay_1-k7"
    assert charge.request.payment_method == "pm_card_visa"
    assert charge.request.return_url == "http://shop.test/back"
