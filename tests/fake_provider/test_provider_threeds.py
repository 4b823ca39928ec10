"""3-D Secure: requires_action, the fake's authentication page, complete / fail, once."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError
from tests.fake_provider.conftest import Receiver

RETURN = "https://shop.example/orders/o-3ds/return"
PAY = {"amount": "2500", "currency": "eur", "metadata[order_id]": "o-3ds", "confirm": "true"}


def _challenge(api: httpx.Client, card: str = "pm_card_threeDSecure2Required", **extra: str):
    form = {**PAY, "payment_method": card, "return_url": RETURN, **extra}
    answer = api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "3ds-1"})
    assert answer.status_code == 200, answer.text
    intent: dict = answer.json()
    return intent


@pytest.mark.parametrize(
    "card",
    [
        "pm_card_threeDSecure2Required",
        "pm_card_threeDSecureRequired",
        "pm_card_authenticationRequired",
    ],
)
def test_an_always_authenticate_card_waits_for_the_customer_without_charging(
    api: httpx.Client, fake: FakeProviderClient, card: str
) -> None:
    intent = _challenge(api, card)
    assert intent["status"] == "requires_action" and intent["amount_received"] == 0
    action = intent["next_action"]
    assert action["type"] == "redirect_to_url"
    assert action["redirect_to_url"]["return_url"] == RETURN
    base = str(api.base_url).rstrip("/")
    assert action["redirect_to_url"]["url"] == f"{base}/3ds/{intent['id']}"
    assert intent["latest_charge"] is None
    assert fake.ledger(kind="charge") == [] and fake.ledger(kind="attempt") == []


def test_the_page_completes_then_redirects_to_the_return_url_once(
    api: httpx.Client, fake: FakeProviderClient, receiver: Receiver
) -> None:
    fake.register_webhook_endpoint(receiver.url, events=["payment_intent.succeeded"])
    intent = _challenge(api)
    page = httpx.get(intent["next_action"]["redirect_to_url"]["url"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Complete" in page.text and "Fail" in page.text and 'method="post"' in page.text
    url = intent["next_action"]["redirect_to_url"]["url"]
    for _ in range(2):  # a double click, or Back and submit again
        done = httpx.post(url, data={"outcome": "complete"})
        assert done.status_code == 303
        location = urlsplit(done.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN
        query = parse_qs(location.query)
        assert query == {
            "payment_intent": [intent["id"]],
            "payment_intent_client_secret": [intent["client_secret"]],
            "redirect_status": ["succeeded"],
        }
    got = api.get(f"/v1/payment_intents/{intent['id']}").json()
    assert got["status"] == "succeeded" and got["amount_received"] == 2500
    assert got["next_action"] is None and got["latest_charge"].startswith("ch_")
    charges = fake.charges("o-3ds")
    assert [(c["amount"], c["currency"], c["intent_id"]) for c in charges] == [
        (2500, "eur", intent["id"])
    ]
    assert fake.flush_webhooks()
    types = [e["type"] for e in fake.events()]
    assert types.count("payment_intent.succeeded") == 1
    assert "payment_intent.requires_action" in types
    assert len(receiver.received) == 1


def test_the_control_api_fails_it_back_to_requires_payment_method(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    intent = _challenge(api)
    failed = fake.finish_3ds(intent["id"], "fail")
    assert failed["changed"] is True and failed["redirect_status"] == "failed"
    assert parse_qs(urlsplit(failed["redirect_url"]).query)["redirect_status"] == ["failed"]
    got = api.get(f"/v1/payment_intents/{intent['id']}").json()
    assert got["status"] == "requires_payment_method" and got["payment_method"] is None
    assert got["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert got["next_action"] is None
    # completing after a failure charges nothing
    late = fake.finish_3ds(intent["id"], "complete")
    assert late["changed"] is False and late["redirect_status"] == "failed"
    assert fake.ledger(kind="charge") == []
    assert [e["kind"] for e in fake.ledger()] == ["decline"]
    # the customer then pays with another card
    paid = api.post(
        f"/v1/payment_intents/{intent['id']}/confirm", data={"payment_method": "pm_card_visa"}
    )
    assert paid.json()["status"] == "succeeded"
    assert len(fake.charges("o-3ds")) == 1


def test_completing_twice_through_the_control_api_charges_once(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    intent = _challenge(api)
    first = fake.finish_3ds(intent["id"])
    second = fake.finish_3ds(intent["id"])
    assert (first["changed"], second["changed"]) == (True, False)
    assert first["intent"]["status"] == second["intent"]["status"] == "succeeded"
    assert first["redirect_url"] == second["redirect_url"]
    assert len(fake.charges("o-3ds")) == 1
    # a replay of the original create still shows what it answered then
    again = api.post(
        "/v1/payment_intents",
        data={**PAY, "payment_method": "pm_card_threeDSecure2Required", "return_url": RETURN},
        headers={"Idempotency-Key": "3ds-1"},
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["status"] == "requires_action"
    # confirming a succeeded intent again is refused, nothing charged
    refused = api.post(
        f"/v1/payment_intents/{intent['id']}/confirm", data={"payment_method": "pm_card_visa"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert len(fake.charges("o-3ds")) == 1


def test_manual_capture_after_authentication_only_authorises(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    intent = _challenge(api, capture_method="manual")
    done = fake.finish_3ds(intent["id"])
    assert done["intent"]["status"] == "requires_capture"
    assert done["redirect_status"] == "succeeded"
    assert fake.ledger(kind="charge") == []
    captured = api.post(f"/v1/payment_intents/{intent['id']}/capture").json()
    assert captured["status"] == "succeeded"
    assert [c["amount"] for c in fake.charges("o-3ds")] == [2500]


def test_without_a_return_url_the_page_says_how_it_ended(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    form = {**PAY, "payment_method": "pm_card_authenticationRequired"}
    intent = api.post("/v1/payment_intents", data=form).json()
    assert intent["next_action"]["redirect_to_url"]["return_url"] is None
    done = httpx.post(intent["next_action"]["redirect_to_url"]["url"], data={"outcome": "complete"})
    assert done.status_code == 200 and "succeeded" in done.text
    assert fake.finish_3ds(intent["id"])["redirect_url"] is None


def test_bad_outcomes_and_unknown_intents_are_refused(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    intent = _challenge(api)
    with pytest.raises(FakeProviderError, match="400"):
        fake.finish_3ds(intent["id"], "maybe")
    with pytest.raises(FakeProviderError, match="404"):
        fake.finish_3ds("pi_missing")
    base = str(api.base_url).rstrip("/")
    assert httpx.get(f"{base}/3ds/pi_missing").status_code == 404
    assert httpx.post(f"{base}/3ds/{intent['id']}", data={"outcome": "x"}).status_code == 400
    assert api.get(f"/v1/payment_intents/{intent['id']}").json()["status"] == "requires_action"


def test_the_stripe_sdk_sees_requires_action(api: httpx.Client, fake: FakeProviderClient) -> None:
    stripe = pytest.importorskip("stripe")
    client = stripe.StripeClient(
        "sk_test_nodouble", base_addresses={"api": str(api.base_url).rstrip("/")}
    )
    intent = client.v1.payment_intents.create(
        params={
            "amount": 900,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
            "return_url": RETURN,
        }
    )
    assert intent.status == "requires_action"
    assert intent.next_action is not None
    assert intent.next_action.redirect_to_url is not None
    assert intent.next_action.redirect_to_url.return_url == RETURN
    fake.finish_3ds(intent.id)
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
