"""Decline cards, manual capture, minimum amounts, Stripe-Should-Retry, list endpoints."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from fake_provider._provider import ProviderConfig
from fake_provider.app import config_from_env, create_app
from fake_provider.client import FakeProviderClient

PAY = {"amount": "1500", "currency": "usd", "metadata[order_id]": "o-c", "confirm": "true"}


@pytest.mark.parametrize(
    ("card", "code", "decline_code", "param"),
    [
        ("pm_card_visa_chargeDeclined", "card_declined", "generic_decline", "payment_method"),
        ("pm_card_chargeDeclined", "card_declined", "generic_decline", "payment_method"),
        (
            "pm_card_visa_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
            "payment_method",
        ),
        ("pm_card_visa_chargeDeclinedLostCard", "card_declined", "lost_card", "payment_method"),
        ("pm_card_visa_chargeDeclinedStolenCard", "card_declined", "stolen_card", "payment_method"),
        ("pm_card_chargeDeclinedFraudulent", "card_declined", "fraudulent", "payment_method"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", None, "exp_month"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", None, "cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", None, "payment_method"),
    ],
)
def test_decline_cards_answer_stripes_codes_and_charge_nothing(
    api: httpx.Client,
    fake: FakeProviderClient,
    card: str,
    code: str,
    decline_code: str | None,
    param: str,
) -> None:
    answer = api.post("/v1/payment_intents", data={**PAY, "payment_method": card})
    assert answer.status_code == 402
    assert answer.headers["Stripe-Should-Retry"] == "false"
    error = answer.json()["error"]
    assert (error["type"], error["code"], error.get("decline_code")) == (
        "card_error",
        code,
        decline_code,
    )
    assert error["param"] == param and error["message"]
    intent = error["payment_intent"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == code
    charge = api.get(f"/v1/charges/{error['charge']}").json()
    assert charge["status"] == "failed" and charge["failure_code"] == code
    assert fake.charges() == [] and [e["kind"] for e in fake.ledger()] == ["attempt", "decline"]


def test_manual_capture_full_partial_and_second_capture(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    form = {**PAY, "payment_method": "pm_card_visa", "capture_method": "manual"}
    full = api.post("/v1/payment_intents", data=form).json()
    part = api.post("/v1/payment_intents", data={**form, "metadata[order_id]": "o-p"}).json()
    for held in (full, part):
        assert held["status"] == "requires_capture" and held["amount_capturable"] == 1500
        assert held["amount_received"] == 0
    assert fake.charges() == []  # authorisations only
    too_much = api.post(
        f"/v1/payment_intents/{part['id']}/capture", data={"amount_to_capture": "1501"}
    )
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"
    captured = api.post(f"/v1/payment_intents/{full['id']}/capture").json()
    assert captured["status"] == "succeeded" and captured["amount_received"] == 1500
    partial = api.post(
        f"/v1/payment_intents/{part['id']}/capture", data={"amount_to_capture": "600"}
    ).json()
    assert partial["status"] == "succeeded" and partial["amount_received"] == 600
    assert partial["amount_capturable"] == 0
    charge = api.get(f"/v1/charges/{partial['latest_charge']}").json()
    assert charge["captured"] is True and charge["amount_captured"] == 600
    again = api.post(f"/v1/payment_intents/{full['id']}/capture", headers={"Idempotency-Key": "c2"})
    assert again.status_code == 400
    error = again.json()["error"]
    assert error["code"] == "payment_intent_unexpected_state"
    assert "status of succeeded" in error["message"] and "requires_capture" in error["message"]
    assert error["payment_intent"]["id"] == full["id"]
    summary = fake.summary()["keys"]
    assert summary["o-c"]["amount_charged"] == 1500 and summary["o-p"]["amount_charged"] == 600
    assert [c["amount"] for c in fake.charges()] == [1500, 600]
    refund = api.post("/v1/refunds", data={"payment_intent": part["id"], "amount": "601"})
    assert refund.json()["error"]["code"] == "amount_too_large"


def test_stripe_should_retry_follows_what_a_retry_would_do(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    ok = api.post("/v1/payment_intents", data={**PAY, "payment_method": "pm_card_visa"})
    assert ok.status_code == 200 and "Stripe-Should-Retry" not in ok.headers
    bad = api.post("/v1/payment_intents", data={"amount": "x", "currency": "usd"})
    assert (bad.status_code, bad.headers["Stripe-Should-Retry"]) == (400, "false")
    missing = api.get("/v1/payment_intents/pi_nope")
    assert (missing.status_code, missing.headers["Stripe-Should-Retry"]) == (404, "false")
    fake.set_fault("in_flight", "money")
    busy = api.post("/v1/payment_intents", data={**PAY, "payment_method": "pm_card_visa"})
    assert (busy.status_code, busy.headers["Stripe-Should-Retry"]) == (409, "true")
    fake.set_fault("error_before", "money", status=503)
    before = api.post("/v1/payment_intents", data={**PAY, "payment_method": "pm_card_visa"})
    assert (before.status_code, before.headers["Stripe-Should-Retry"]) == (503, "true")
    fake.set_fault("error_after", "money")
    form, key = {**PAY, "payment_method": "pm_card_visa"}, {"Idempotency-Key": "after"}
    after = api.post("/v1/payment_intents", data=form, headers=key)
    assert (after.status_code, after.headers["Stripe-Should-Retry"]) == (500, "false")
    replay = api.post("/v1/payment_intents", data=form, headers=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (replay.status_code, replay.headers["Stripe-Should-Retry"]) == (500, "false")
    fake.set_fault("error_after", "money")
    keyless = api.post("/v1/payment_intents", data=form)  # nothing saved: a retry runs again
    assert (keyless.status_code, keyless.headers["Stripe-Should-Retry"]) == (500, "true")


def test_lists_are_newest_first_and_page_like_stripe(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    ids = [
        api.post("/v1/payment_intents", data={**PAY, "payment_method": "pm_card_visa"}).json()["id"]
        for _ in range(5)
    ]
    newest = list(reversed(ids))
    listed = api.get("/v1/payment_intents").json()
    assert listed["object"] == "list" and listed["url"] == "/v1/payment_intents"
    assert [i["id"] for i in listed["data"]] == newest and listed["has_more"] is False
    first = api.get("/v1/payment_intents", params={"limit": 2}).json()
    assert [i["id"] for i in first["data"]] == newest[:2] and first["has_more"] is True
    second = api.get("/v1/payment_intents", params={"limit": 2, "starting_after": newest[1]}).json()
    assert [i["id"] for i in second["data"]] == newest[2:4] and second["has_more"] is True
    back = api.get("/v1/payment_intents", params={"limit": 2, "ending_before": newest[2]}).json()
    assert [i["id"] for i in back["data"]] == newest[:2] and back["has_more"] is False
    created = listed["data"][0]["created"]
    window = api.get("/v1/payment_intents", params={"created[gte]": created - 60}).json()
    assert len(window["data"]) == 5
    future = api.get("/v1/payment_intents", params={"created[gt]": created + 60}).json()
    assert future["data"] == []
    charges = api.get("/v1/charges").json()
    assert [c["payment_intent"] for c in charges["data"]] == newest
    one = api.get("/v1/charges", params={"payment_intent": ids[0]}).json()
    assert [c["payment_intent"] for c in one["data"]] == [ids[0]]
    assert api.get("/v1/payment_intents", params={"limit": 0}).status_code == 400
    unknown = api.get("/v1/payment_intents", params={"starting_after": "pi_nope"})
    assert unknown.status_code == 404
    other = httpx.get(
        f"{str(api.base_url).rstrip('/')}/v1/payment_intents",
        headers={"Authorization": "Bearer sk_test_other"},
    )
    assert other.json()["data"] == []  # each key is its own account


@pytest.mark.parametrize("minimums", [True, False])
def test_minimum_amounts_per_currency_by_default(minimums: bool) -> None:
    async def answers() -> list[tuple[int, str | None]]:
        app = create_app(ProviderConfig() if minimums else ProviderConfig(minimum_amounts=False))
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": "Bearer sk_test_nodouble"}
        got = []
        async with httpx.AsyncClient(
            transport=transport, base_url="http://fake", headers=headers
        ) as client:
            for amount, currency in [
                ("49", "usd"),
                ("50", "usd"),
                ("49", "eur"),
                ("29", "gbp"),
                ("30", "gbp"),
                ("49", "jpy"),
                ("50", "JPY"),
                ("1", "krw"),
            ]:
                answer = await client.post(
                    "/v1/payment_intents", data={"amount": amount, "currency": currency}
                )
                error = answer.json().get("error") or {}
                got.append((answer.status_code, error.get("code")))
        return got

    expected = [
        (400, "amount_too_small"),
        (200, None),
        (400, "amount_too_small"),
        (400, "amount_too_small"),
        (200, None),
        (400, "amount_too_small"),
        (200, None),
        (200, None),
    ]
    if not minimums:  # switched off: every positive amount is taken
        expected = [(200, None)] * len(expected)
    assert asyncio.run(answers()) == expected


def test_minimum_amount_message_names_the_currency() -> None:
    from fake_provider._errors import StripeError
    from fake_provider._params import check_minimum

    with pytest.raises(StripeError) as usd:
        check_minimum(49, "usd")
    assert usd.value.param == "amount" and "0.50 usd" in usd.value.message
    with pytest.raises(StripeError) as jpy:
        check_minimum(10, "jpy")
    assert "50 jpy" in jpy.value.message
    check_minimum(1, "krw")  # no documented minimum: 1 is enough


@pytest.mark.parametrize(("raw", "expected"), [(None, True), ("1", True), ("0", False)])
def test_minimum_amounts_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: bool
) -> None:
    if raw is None:
        monkeypatch.delenv("NODOUBLE_FAKE_MIN_AMOUNTS", raising=False)
    else:
        monkeypatch.setenv("NODOUBLE_FAKE_MIN_AMOUNTS", raw)
    assert config_from_env().minimum_amounts is expected
