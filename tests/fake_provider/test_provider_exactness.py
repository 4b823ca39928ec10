"""Review findings: replays never drift, execution always stores, faults on replays, fidelity."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
import stripe

from fake_provider._idempotency import IdempotencyStore, fingerprint
from fake_provider._provider import Provider
from fake_provider._state import Store
from fake_provider.app import ProviderConfig, create_app
from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess

PAY = {"amount": "1500", "currency": "usd", "metadata[order_id]": "x-1"}
VISA = {**PAY, "payment_method": "pm_card_visa", "confirm": "true"}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Request-Id"].startswith("req_")
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_replay_is_the_first_response_even_after_the_objects_change(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    # a decline embeds the intent; the intent then succeeds under another key
    declined_form = {**PAY, "payment_method": "pm_card_chargeDeclined", "confirm": "true"}
    declined = api.post("/v1/payment_intents", data=declined_form, headers={"Idempotency-Key": "d"})
    intent_id = _error(declined, 402)["payment_intent"]["id"]
    confirm = f"/v1/payment_intents/{intent_id}/confirm"
    paid = api.post(confirm, data={"payment_method": "pm_card_visa", "expand[0]": "latest_charge"})
    assert paid.json()["status"] == "succeeded"
    replay = api.post("/v1/payment_intents", data=declined_form, headers={"Idempotency-Key": "d"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == declined.json()
    assert replay.json()["error"]["payment_intent"]["status"] == "requires_payment_method"
    # an expanded charge in a stored response does not pick up a later refund either
    key = {"Idempotency-Key": "expanded"}
    form = {**VISA, "expand[0]": "latest_charge"}
    first = api.post("/v1/payment_intents", data=form, headers=key).json()
    api.post("/v1/refunds", data={"payment_intent": first["id"], "amount": "100"})
    again = api.post("/v1/payment_intents", data=form, headers=key).json()
    assert again["latest_charge"]["amount_refunded"] == 0 and again == first
    charge = api.get(f"/v1/charges/{first['latest_charge']['id']}").json()
    assert (charge["amount_refunded"], charge["refunded"]) == (100, False)


def test_state_errors_and_replay_headers(api: httpx.Client, fake: FakeProviderClient) -> None:
    first = api.post("/v1/payment_intents", data=VISA, headers={"Idempotency-Key": "h"})
    intent = first.json()
    for action in ("confirm", "cancel", "capture"):
        error = _error(api.post(f"/v1/payment_intents/{intent['id']}/{action}"), 400)
        assert error["code"] == "payment_intent_unexpected_state", action
        assert error["payment_intent"]["status"] == "succeeded"
    replay = api.post("/v1/payment_intents", data=VISA, headers={"Idempotency-Key": "h"})
    assert replay.headers["Original-Request"] == first.headers["Request-Id"]
    assert replay.headers["Request-Id"] != first.headers["Request-Id"]
    assert "Original-Request" not in first.headers
    missing = _error(api.post("/v1/payment_intents/pi_nope/confirm"), 404)
    assert (missing["code"], missing["param"]) == ("resource_missing", "intent")
    assert _error(api.get("/v1/charges/ch_nope"), 404)["param"] == "id"
    assert len(fake.charges("x-1")) == 1


def test_mismatch_uses_stripes_wording(api: httpx.Client, fake: FakeProviderClient) -> None:
    api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "w"})
    changed = api.post(
        "/v1/payment_intents", data={**PAY, "amount": "2000"}, headers={"Idempotency-Key": "w"}
    )
    message = _error(changed, 400)["message"]
    assert message.startswith(
        "Keys for idempotent requests can only be used with the same parameters they were "
        "first used with."
    )
    assert "'w'" in message
    other = api.post("/v1/refunds", data={"charge": "ch_x"}, headers={"Idempotency-Key": "w"})
    error = _error(other, 400)
    assert error["type"] == "idempotency_error"
    assert "same endpoint they were first used for" in error["message"]


def test_basic_auth_and_json_bodies(api: httpx.Client, fake: FakeProviderClient) -> None:
    basic = "Basic " + base64.b64encode(b"sk_test_nodouble:").decode()
    via_curl = api.post("/v1/payment_intents", data=PAY, headers={"Authorization": basic})
    assert via_curl.status_code == 200
    bad = "Basic " + base64.b64encode(b"pk_test_x:").decode()
    _error(api.post("/v1/payment_intents", data=PAY, headers={"Authorization": bad}), 401)
    _error(api.post("/v1/payment_intents", data=PAY, headers={"Authorization": "Basic %%"}), 401)
    as_json = api.post("/v1/payment_intents", json={"amount": 5, "currency": "usd"})
    assert "form-encoded" in _error(as_json, 400)["message"]
    # what httpx sends for a list and requests for a boolean are understood
    listed = api.post("/v1/payment_intents", data={**VISA, "expand": ["latest_charge"]})
    assert listed.json()["latest_charge"]["object"] == "charge"
    twice = api.post("/v1/payment_intents", content=b"amount=5&amount=6&currency=usd")
    assert _error(twice, 400)["param"] == "amount"
    capitalised = api.post("/v1/payment_intents", data={**VISA, "confirm": "True"})
    assert capitalised.json()["status"] == "succeeded"


def test_faults_also_hit_replays_and_reset_forgets_keys(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    key = {"Idempotency-Key": "rp"}
    assert api.post("/v1/payment_intents", data=VISA, headers=key).status_code == 200
    fake.set_fault("drop_after", "POST /v1/payment_intents")
    with pytest.raises(httpx.RemoteProtocolError):  # the replayed response is lost too
        api.post("/v1/payment_intents", data=VISA, headers=key)
    fake.set_fault("error_after", "POST /v1/payment_intents")
    assert api.post("/v1/payment_intents", data=VISA, headers=key).status_code == 500
    replay = api.post("/v1/payment_intents", data=VISA, headers=key)  # the record is intact
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    log = fake.requests()
    assert [(r["status"], r["replayed"], bool(r["fault"])) for r in log] == [
        (200, False, False),
        (None, True, True),
        (500, True, True),
        (200, True, False),
    ]
    assert len(fake.charges("x-1")) == 1
    fake.set_fault("delay", count=5)
    fake.reset()
    assert fake.faults() == [] and fake.ledger() == [] and fake.requests() == []
    fresh = api.post("/v1/payment_intents", data=VISA, headers=key)
    assert fresh.status_code == 200 and "Idempotent-Replayed" not in fresh.headers


def test_search_pages_through_results_with_the_sdk(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    sdk = stripe.StripeClient(
        "sk_test_nodouble", base_addresses={"api": fake_server.url}, max_network_retries=0
    )
    made = {
        sdk.v1.payment_intents.create(
            params={"amount": 100 + i, "currency": "usd", "metadata": {"order_id": "pages"}}
        ).id
        for i in range(5)
    }
    query = "metadata['order_id']:'pages'"
    first = sdk.v1.payment_intents.search(params={"query": query, "limit": 2})
    assert len(first.data) == 2 and first.has_more and first.next_page
    every = [i.id for i in first.auto_paging_iter()]
    assert sorted(every) == sorted(made) and len(every) == 5
    with httpx.Client(base_url=fake_server.url) as http:
        bad = http.get(
            "/v1/payment_intents/search",
            params={"query": query, "page": "nonsense"},
            headers={"Authorization": "Bearer sk_test_nodouble"},
        )
    assert _error(bad, 400)["param"] == "page"


def test_an_internal_failure_after_the_work_is_stored_not_retried() -> None:
    """If the fake itself fails after changing state, a retry must replay, not execute."""

    async def scenario() -> tuple[list[int], int, list[str]]:
        app = create_app(ProviderConfig())
        provider: Provider = app.state.provider

        def broken_emit(*args: object) -> None:
            raise RuntimeError("webhook bookkeeping failed")

        provider.payments.emit = broken_emit  # runs after the charge is in the ledger
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer sk_test_nodouble", "Idempotency-Key": "boom"}
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            answers = [
                await client.post("/v1/payment_intents", data=VISA, headers=headers)
                for _ in range(2)
            ]
        charges = len(provider.ledger.entries(kind="charge"))
        return [a.status_code for a in answers], charges, [a.text for a in answers]

    statuses, charges, texts = asyncio.run(scenario())
    assert statuses == [500, 500] and texts[0] == texts[1]
    assert charges == 1
    assert "Traceback" not in texts[0]


def test_finish_after_a_reset_stores_nothing() -> None:
    store = IdempotencyStore(Store())
    print_ = fingerprint("POST /v1/payment_intents", {})
    assert store.begin("sk_test_a", "k", print_, "req_1").kind == "proceed"
    store.clear()
    store.store.clear()
    store.finish("sk_test_a", "k", 200, {"id": "pi_1"})  # the request outlived a reset
    assert store.begin("sk_test_a", "k", print_).kind == "proceed"
