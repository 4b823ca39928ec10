"""The Stripe v1 subset over raw HTTP: shapes, state machine, validation, idempotency."""

from __future__ import annotations

import httpx
import pytest

from fake_provider.client import FakeProviderClient

PAY = {"amount": "1500", "currency": "usd", "metadata[order_id]": "o-1"}


def _error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["Request-Id"].startswith("req_")
    error: dict[str, str] = response.json()["error"]
    return error


def test_create_confirm_retrieve_has_stripe_shape(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    created = api.post("/v1/payment_intents", data=PAY)
    assert created.status_code == 200
    assert created.headers["Request-Id"].startswith("req_")
    intent = created.json()
    assert intent["id"].startswith("pi_") and intent["object"] == "payment_intent"
    assert intent["status"] == "requires_payment_method"
    assert intent["client_secret"].startswith(intent["id"] + "_secret_")
    assert intent["livemode"] is False and intent["metadata"] == {"order_id": "o-1"}
    confirmed = api.post(
        f"/v1/payment_intents/{intent['id']}/confirm", data={"payment_method": "pm_card_mastercard"}
    ).json()
    assert confirmed["status"] == "succeeded" and confirmed["amount_received"] == 1500
    assert confirmed["latest_charge"].startswith("ch_")
    got = api.get(f"/v1/payment_intents/{intent['id']}", params={"expand[0]": "latest_charge"})
    assert got.json()["latest_charge"]["id"] == confirmed["latest_charge"]
    assert got.json()["latest_charge"]["object"] == "charge"
    ledger = fake.ledger()
    assert [e["kind"] for e in ledger] == ["attempt", "charge"]
    assert ledger[1]["charge_id"] == confirmed["latest_charge"]
    assert ledger[1]["account"] == "sk_test_nodouble"
    again = api.post(f"/v1/payment_intents/{intent['id']}/confirm", data={})
    error = _error(again, 400)
    assert error["code"] == "payment_intent_unexpected_state"


def test_manual_capture_then_cancel_rules(api: httpx.Client, fake: FakeProviderClient) -> None:
    form = {**PAY, "payment_method": "pm_card_visa", "confirm": "true", "capture_method": "manual"}
    intent = api.post("/v1/payment_intents", data=form).json()
    assert intent["status"] == "requires_capture"
    assert fake.summary()["total_charges"] == 0
    captured = api.post(f"/v1/payment_intents/{intent['id']}/capture", data={}).json()
    assert captured["status"] == "succeeded"
    assert fake.summary()["keys"]["o-1"]["charges"] == 1
    error = _error(api.post(f"/v1/payment_intents/{intent['id']}/cancel"), 400)
    assert error["code"] == "payment_intent_unexpected_state"
    other = api.post("/v1/payment_intents", data=PAY).json()
    canceled = api.post(
        f"/v1/payment_intents/{other['id']}/cancel", data={"cancellation_reason": "abandoned"}
    ).json()
    assert canceled["status"] == "canceled" and canceled["canceled_at"] is not None


@pytest.mark.parametrize(
    ("pm", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_declines_are_402_card_errors(
    api: httpx.Client, fake: FakeProviderClient, pm: str, decline_code: str
) -> None:
    response = api.post(
        "/v1/payment_intents", data={**PAY, "payment_method": pm, "confirm": "true"}
    )
    error = _error(response, 402)
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        decline_code,
    )
    intent = response.json()["error"]["payment_intent"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["decline_code"] == decline_code
    summary = fake.summary()
    assert summary["total_charges"] == 0 and summary["keys"]["o-1"]["declines"] == 1


def test_refunds_cannot_exceed_the_amount_received(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    intent = api.post(
        "/v1/payment_intents", data={**PAY, "payment_method": "pm_card_visa", "confirm": "true"}
    ).json()
    first = api.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": "1000"})
    assert first.json()["object"] == "refund" and first.json()["amount"] == 1000
    error = _error(
        api.post("/v1/refunds", data={"charge": intent["latest_charge"], "amount": "501"}), 400
    )
    assert (error["code"], error["param"]) == ("amount_too_large", "amount")
    rest = api.post("/v1/refunds", data={"charge": intent["latest_charge"]}).json()
    assert rest["amount"] == 500
    error = _error(api.post("/v1/refunds", data={"payment_intent": intent["id"]}), 400)
    assert error["code"] == "charge_already_refunded"
    row = fake.summary()["keys"]["o-1"]
    assert (row["refunds"], row["amount_refunded"]) == (2, 1500)


@pytest.mark.parametrize(
    ("form", "code", "param"),
    [
        ({"currency": "usd"}, "parameter_missing", "amount"),
        ({"amount": "-5", "currency": "usd"}, "amount_too_small", "amount"),
        ({"amount": "0", "currency": "usd"}, "amount_too_small", "amount"),
        ({"amount": "12.5", "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ({"amount": "1e3", "currency": "usd"}, "parameter_invalid_integer", "amount"),
        ({"amount[x]": "5", "currency": "usd"}, "parameter_invalid_string", "amount"),
        ({"amount": "5"}, "parameter_missing", "currency"),
        ({"amount": "5", "currency": "xyz"}, "parameter_invalid_string", "currency"),
        ({"amount": "5", "currency": "us"}, "parameter_invalid_string", "currency"),
        ({"amount": "5", "currency": "usd", "colour": "red"}, "parameter_unknown", "colour"),
        (
            {"amount": "5", "currency": "usd", "confirm": "yes"},
            "parameter_invalid_boolean",
            "confirm",
        ),
        (
            {"amount": "5", "currency": "usd", "capture_method": "later"},
            "parameter_invalid_string",
            "capture_method",
        ),
        (
            {"amount": "5", "currency": "usd", "payment_method": "pm_nope"},
            "resource_missing",
            "payment_method",
        ),
    ],
)
def test_bad_input_is_a_stripe_shaped_400(
    api: httpx.Client, fake: FakeProviderClient, form: dict[str, str], code: str, param: str
) -> None:
    error = _error(
        api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "bad"}), 400
    )
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert error["message"]
    # validation failures are not stored: the key is still free for a good request
    good = api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "bad"})
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers
    assert fake.ledger() == []


@pytest.mark.parametrize(
    "body",
    [b"metadata[a]=b&metadata=x", b"metadata=x&metadata[a]=b", b"a[=1", b"amount=%ff", b"\xff"],
)
def test_malformed_bodies_are_400_never_500(api: httpx.Client, body: bytes) -> None:
    response = api.post(
        "/v1/payment_intents",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    error = _error(response, 400)
    assert error["type"] == "invalid_request_error" and error["message"].startswith("Malformed")


def test_auth_and_unknown_routes(api: httpx.Client, fake_server: object) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer pk_test_x"}):
        error = _error(api.post("/v1/payment_intents", data=PAY, headers=headers), 401)
        assert error["type"] == "invalid_request_error"
    error = _error(api.get("/v1/payment_intents/pi_missing"), 404)
    assert (error["code"], error["param"]) == ("resource_missing", "intent")
    _error(api.get("/v1/customers"), 404)
    _error(api.delete("/v1/payment_intents"), 404)


def test_accounts_are_isolated(api: httpx.Client, fake: FakeProviderClient) -> None:
    key = {"Idempotency-Key": "same-key"}
    mine = api.post("/v1/payment_intents", data=PAY, headers=key).json()
    other = {"Authorization": "Bearer sk_test_other", **key}
    theirs = api.post("/v1/payment_intents", data=PAY, headers=other)
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]
    _error(api.get(f"/v1/payment_intents/{mine['id']}", headers=other), 404)


def test_idempotency_replay_mismatch_and_key_length(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    form = {**PAY, "payment_method": "pm_card_chargeDeclined", "confirm": "true"}
    first = api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "k"})
    second = api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "k"})
    assert first.status_code == second.status_code == 402
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Idempotency-Key"] == "k"
    assert "Idempotent-Replayed" not in first.headers
    changed = api.post(
        "/v1/payment_intents", data={**form, "amount": "9900"}, headers={"Idempotency-Key": "k"}
    )
    assert _error(changed, 400)["type"] == "idempotency_error"
    elsewhere = api.post("/v1/refunds", data={"charge": "ch_x"}, headers={"Idempotency-Key": "k"})
    error = _error(elsewhere, 400)
    assert error["type"] == "idempotency_error" and "POST /v1/payment_intents" in error["message"]
    assert fake.summary()["keys"]["o-1"]["declines"] == 1
    ok = api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "x" * 255})
    assert ok.status_code == 200
    error = _error(
        api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "x" * 256}), 400
    )
    assert "255" in error["message"]


def test_search_by_metadata_and_status(api: httpx.Client, fake: FakeProviderClient) -> None:
    paid = api.post(
        "/v1/payment_intents", data={**PAY, "payment_method": "pm_card_visa", "confirm": "true"}
    ).json()
    api.post("/v1/payment_intents", data=PAY)
    api.post("/v1/payment_intents", data={**PAY, "metadata[order_id]": "o-2"})
    found = api.get(
        "/v1/payment_intents/search", params={"query": "metadata['order_id']:'o-1'"}
    ).json()
    assert found["object"] == "search_result" and found["has_more"] is False
    assert len(found["data"]) == 2 and found["next_page"] is None
    query = "metadata['order_id']:'o-1' AND status:'succeeded'"
    only = api.get("/v1/payment_intents/search", params={"query": query}).json()
    assert [i["id"] for i in only["data"]] == [paid["id"]]
    for bad in ("", "metadata['order_id']:'o-1' OR status:'succeeded'", "amount>5", "nonsense"):
        error = _error(api.get("/v1/payment_intents/search", params={"query": bad}), 400)
        assert error["param"] == "query"


def test_request_log_records_every_call(api: httpx.Client, fake: FakeProviderClient) -> None:
    api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "log"})
    api.post("/v1/payment_intents", data=PAY, headers={"Idempotency-Key": "log"})
    log = fake.requests()
    assert [(r["status"], r["replayed"], r["idempotency_key"]) for r in log] == [
        (200, False, "log"),
        (200, True, "log"),
    ]
    assert all(r["account"] == "sk_test_nodouble" and r["duration_ms"] >= 0 for r in log)
