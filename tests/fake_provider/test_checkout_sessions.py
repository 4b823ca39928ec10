"""Hosted Checkout: sessions over the API, the hosted page, paying once, expiry, webhooks."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
import stripe

from fake_provider.client import FakeProviderClient, FakeProviderError
from harness._process import ServerProcess

SUCCESS = "https://shop.example/done?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "https://shop.example/cart"


def _form(order_id: str, **extra: str) -> dict[str, str]:
    return {
        "mode": "payment",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "1250",
        "line_items[0][price_data][product_data][name]": "Rocket ride",
        "line_items[0][quantity]": "2",
        "line_items[1][price_data][currency]": "usd",
        "line_items[1][price_data][unit_amount]": "500",
        "line_items[1][price_data][product_data][name]": "Helmet",
        "line_items[1][quantity]": "1",
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "client_reference_id": f"cart-{order_id}",
        "metadata[order_id]": order_id,
        "payment_intent_data[metadata][shop]": "rockets",
        **extra,
    }


def _create(api: httpx.Client, order_id: str, **extra: str) -> dict[str, Any]:
    response = api.post("/v1/checkout/sessions", data=_form(order_id, **extra))
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def test_create_and_retrieve_have_stripe_shape(
    api: httpx.Client, fake_server: ServerProcess
) -> None:
    session = _create(api, "co-1")
    assert session["id"].startswith("cs_test_") and session["object"] == "checkout.session"
    assert (session["status"], session["payment_status"]) == ("open", "unpaid")
    assert (session["amount_total"], session["amount_subtotal"], session["currency"]) == (
        3000,
        3000,
        "usd",
    )
    assert session["metadata"] == {"order_id": "co-1"}
    assert session["client_reference_id"] == "cart-co-1"
    assert session["payment_intent"] is None and session["mode"] == "payment"
    assert session["url"] == f"{fake_server.url}/c/pay/{session['id']}"
    assert 86000 < session["expires_at"] - time.time() <= 86400
    got = api.get(f"/v1/checkout/sessions/{session['id']}", params={"expand[0]": "line_items"})
    items = got.json()["line_items"]["data"]
    assert [(i["description"], i["quantity"], i["amount_total"]) for i in items] == [
        ("Rocket ride", 2, 2500),
        ("Helmet", 1, 500),
    ]
    listed = api.get(f"/v1/checkout/sessions/{session['id']}/line_items").json()
    assert [i["id"] for i in listed["data"]] == [i["id"] for i in items]
    missing = api.get("/v1/checkout/sessions/cs_test_nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"


def test_pay_through_the_control_api_charges_once_with_the_business_key(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _create(api, "co-2")
    paid = fake.pay_checkout_session(session["id"])
    assert paid["outcome"] == "paid"
    assert paid["redirect_url"] == f"https://shop.example/done?session_id={session['id']}"
    done = api.get(f"/v1/checkout/sessions/{session['id']}").json()
    assert (done["status"], done["payment_status"], done["url"]) == ("complete", "paid", None)
    intent = api.get(f"/v1/payment_intents/{done['payment_intent']}").json()
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 3000)
    assert intent["metadata"] == {"shop": "rockets"}  # as on Stripe: payment_intent_data only
    (charge,) = fake.charges("co-2")
    assert charge["metadata"] == {"order_id": "co-2", "shop": "rockets"}
    assert (charge["intent_id"], charge["amount"]) == (intent["id"], 3000)
    again = fake.pay_checkout_session(session["id"], "pm_card_mastercard")
    assert again["outcome"] == "already_paid"
    assert len(fake.charges("co-2")) == 1 and fake.summary()["over_charged"] == []


def test_the_hosted_page_pays_in_a_form_post_and_redirects_to_success(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _create(api, "co-3")
    with httpx.Client(timeout=10) as browser:  # no API key: a customer's browser
        shown = browser.get(session["url"])
        assert shown.status_code == 200 and 'data-state="open"' in shown.text
        assert "id=pay-button" in shown.text and f'href="{CANCEL}"' in shown.text
        assert "30.00 USD" in shown.text and "Rocket ride" in shown.text
        paid = browser.post(session["url"], data={"payment_method": "pm_card_visa"})
        assert paid.status_code == 303
        assert paid.headers["location"] == f"https://shop.example/done?session_id={session['id']}"
        twice = browser.post(session["url"], data={"payment_method": "pm_card_visa"})
        assert twice.status_code == 200 and 'data-state="already_paid"' in twice.text
        assert "already paid" in twice.text
        back = browser.get(session["url"])
        assert 'data-state="already_paid"' in back.text and "id=pay-button" not in back.text
        unknown = browser.get(session["url"].replace(session["id"], "cs_test_missing"))
        assert unknown.status_code == 404
    assert len(fake.charges("co-3")) == 1


def test_parallel_clicks_on_pay_charge_once(api: httpx.Client, fake: FakeProviderClient) -> None:
    session = _create(api, "co-4")
    statuses: list[int] = []
    start = threading.Barrier(12)

    def click() -> None:
        with httpx.Client(timeout=10) as browser:
            start.wait()
            statuses.append(browser.post(session["url"], data={}).status_code)

    threads = [threading.Thread(target=click) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [200] * 11 + [303]
    assert len(fake.charges("co-4")) == 1


def test_a_declined_card_leaves_the_session_open_and_the_same_intent_is_paid_later(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _create(api, "co-5")
    with httpx.Client(timeout=10) as browser:
        declined = browser.post(session["url"], data={"payment_method": "pm_card_chargeDeclined"})
        assert declined.status_code == 402 and 'data-state="declined"' in declined.text
        assert "declined" in declined.text and "id=pay-button" in declined.text
        bad = browser.post(session["url"], data={"payment_method": "pm_card_bogus"})
        assert bad.status_code == 400
    opened = api.get(f"/v1/checkout/sessions/{session['id']}").json()
    assert (opened["status"], opened["payment_status"]) == ("open", "unpaid")
    first_intent = opened["payment_intent"]
    assert first_intent is not None
    paid = fake.pay_checkout_session(session["id"])
    assert paid["outcome"] == "paid" and paid["session"]["payment_intent"] == first_intent
    kinds = [e["kind"] for e in fake.ledger(field="order_id", value="co-5")]
    assert kinds == ["attempt", "decline", "attempt", "charge"]


def test_an_expired_session_cannot_be_paid(api: httpx.Client, fake: FakeProviderClient) -> None:
    session = _create(api, "co-6")
    expired = api.post(f"/v1/checkout/sessions/{session['id']}/expire")
    assert expired.status_code == 200
    assert (expired.json()["status"], expired.json()["url"]) == ("expired", None)
    with pytest.raises(FakeProviderError, match="409"):
        fake.pay_checkout_session(session["id"])
    with httpx.Client(timeout=10) as browser:
        refused = browser.post(session["url"], data={"payment_method": "pm_card_visa"})
        assert refused.status_code == 410 and "expired" in refused.text
    again = api.post(f"/v1/checkout/sessions/{session['id']}/expire")
    assert again.status_code == 400 and "only an open" in again.json()["error"]["message"]
    paid = _create(api, "co-6b")
    fake.pay_checkout_session(paid["id"])
    assert api.post(f"/v1/checkout/sessions/{paid['id']}/expire").status_code == 400
    assert fake.charges("co-6") == []


def test_create_is_idempotent(api: httpx.Client, fake: FakeProviderClient) -> None:
    key = {"Idempotency-Key": "order-co-7-checkout"}
    first = api.post("/v1/checkout/sessions", data=_form("co-7"), headers=key)
    second = api.post("/v1/checkout/sessions", data=_form("co-7"), headers=key)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    other = api.post("/v1/checkout/sessions", data=_form("co-7b"), headers=key)
    assert other.status_code == 400 and other.json()["error"]["type"] == "idempotency_error"
    listed = api.get("/v1/checkout/sessions").json()
    assert [s["id"] for s in listed["data"]] == [first.json()["id"]]


def test_list_is_newest_first_with_cursors_and_filters(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    ids = [_create(api, f"co-8-{i}")["id"] for i in range(3)]
    page = api.get("/v1/checkout/sessions", params={"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] is True
    assert [s["id"] for s in page["data"]] == [ids[2], ids[1]]
    rest = api.get("/v1/checkout/sessions", params={"limit": 2, "starting_after": ids[1]}).json()
    assert [s["id"] for s in rest["data"]] == [ids[0]] and rest["has_more"] is False
    before = api.get("/v1/checkout/sessions", params={"ending_before": ids[0]}).json()
    assert [s["id"] for s in before["data"]] == [ids[2], ids[1]]
    paid = fake.pay_checkout_session(ids[1])["session"]
    by_intent = api.get("/v1/checkout/sessions", params={"payment_intent": paid["payment_intent"]})
    assert [s["id"] for s in by_intent.json()["data"]] == [ids[1]]
    complete = api.get("/v1/checkout/sessions", params={"status": "complete"}).json()
    assert [s["id"] for s in complete["data"]] == [ids[1]]
    other = {"Authorization": "Bearer sk_test_someone_else"}
    assert api.get("/v1/checkout/sessions", headers=other).json()["data"] == []


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"mode": "subscription"}, "mode"),
        ({"line_items[0][price]": "price_123"}, "line_items[0][price]"),
        ({"line_items[1][price_data][currency]": "eur"}, "line_items"),
        ({"line_items[0][quantity]": "0"}, "line_items[0][quantity]"),
        ({"success_url": "shop.example/done"}, "success_url"),
        ({"payment_intent_data[capture_method]": "manual"}, "payment_intent_data[capture_method]"),
        ({"expires_at": "1"}, "expires_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_sessions_are_refused(
    api: httpx.Client, fake: FakeProviderClient, change: dict[str, str], param: str
) -> None:
    response = api.post("/v1/checkout/sessions", data=_form("co-9", **change))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert api.get("/v1/checkout/sessions").json()["data"] == []


def test_completed_and_expired_webhooks(
    api: httpx.Client, fake: FakeProviderClient, receiver: Any
) -> None:
    wanted = ["checkout.session.completed", "checkout.session.expired", "payment_intent.succeeded"]
    fake.register_webhook_endpoint(receiver.url, "whsec_checkout", wanted)
    paid = _create(api, "co-10")
    fake.pay_checkout_session(paid["id"])
    dropped = _create(api, "co-11")
    api.post(f"/v1/checkout/sessions/{dropped['id']}/expire", headers={"Idempotency-Key": "x-11"})
    assert fake.flush_webhooks()
    events = [json.loads(r.body) for r in receiver.received]
    assert [e["type"] for e in events] == wanted[2:] + wanted[:2]
    succeeded, completed, expired = events
    assert completed["data"]["object"]["id"] == paid["id"]
    assert completed["data"]["object"]["payment_status"] == "paid"
    assert completed["data"]["object"]["payment_intent"] == succeeded["data"]["object"]["id"]
    assert completed["data"]["object"]["metadata"] == {"order_id": "co-10"}
    assert completed["request"] == {"id": None, "idempotency_key": None}  # the customer paid
    assert expired["data"]["object"]["status"] == "expired"
    assert expired["request"]["idempotency_key"] == "x-11"


def test_the_stripe_sdk_creates_lists_and_expires_sessions(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    sdk = stripe.StripeClient(
        "sk_test_nodouble", base_addresses={"api": fake_server.url}, max_network_retries=0
    )
    params: Any = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 990,
                    "product_data": {"name": "Ticket"},
                },
                "quantity": 3,
            }
        ],
        "success_url": SUCCESS,
        "metadata": {"order_id": "sdk-co"},
    }
    session = sdk.v1.checkout.sessions.create(params=params, options={"idempotency_key": "sdk"})
    assert session.amount_total == 2970 and session.url is not None
    assert sdk.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert [s.id for s in sdk.v1.checkout.sessions.list().data] == [session.id]
    assert fake.pay_checkout_session(session.id)["outcome"] == "paid"
    assert sdk.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    with pytest.raises(stripe.InvalidRequestError):
        sdk.v1.checkout.sessions.expire(session.id)
    assert fake.summary()["keys"]["sdk-co"]["amount_charged"] == 2970


def test_without_success_url_the_page_itself_says_paid(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    form = {k: v for k, v in _form("co-12").items() if k not in ("success_url", "cancel_url")}
    session = api.post("/v1/checkout/sessions", data=form).json()
    with httpx.Client(timeout=10) as browser:
        shown = browser.get(session["url"])
        assert "id=cancel-link" not in shown.text
        paid = browser.post(session["url"], data={})
    assert paid.status_code == 200 and 'data-state="paid"' in paid.text
    assert "Payment received." in paid.text
    assert fake.pay_checkout_session(session["id"])["redirect_url"] is None
    assert len(fake.charges("co-12")) == 1
