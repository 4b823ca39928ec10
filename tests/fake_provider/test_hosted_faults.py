"""Faults on payments made on the fake's own pages, and holding webhooks back.

A fault aimed at ``"hosted"`` reaches the hosted Checkout page, its control call and the
3-D Secure completion (never an API request); ``"*"`` and ``"money"`` never reach them.
Each firing is a hit saying whether the payment charged and what the fault did.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError
from fake_provider.types import FaultHit
from harness._process import ServerProcess
from tests.fake_provider.conftest import Receiver

SUCCESS = "https://shop.example/done?session_id={CHECKOUT_SESSION_ID}"
COMPLETED = "checkout.session.completed"


def _session(api: httpx.Client, order_id: str) -> dict[str, Any]:
    form = {
        "mode": "payment",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "1200",
        "line_items[0][price_data][product_data][name]": "Rocket ride",
        "line_items[0][quantity]": "1",
        "success_url": SUCCESS,
        "metadata[order_id]": order_id,
    }
    response = api.post("/v1/checkout/sessions", data=form)
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


def _click_pay(session: dict[str, Any], *, timeout: float = 10) -> httpx.Response:
    """What a customer's browser does on the hosted page: POST the form (no API key)."""
    with httpx.Client(timeout=timeout) as browser:
        return browser.post(session["url"], data={"payment_method": "pm_card_visa"})


def _hit(fake: FakeProviderClient) -> FaultHit:
    deadline = time.monotonic() + 5
    while True:
        [fault] = fake.faults()
        if fault["hits"] and fault["hits"][-1]["effect"] is not None:
            return fault["hits"][-1]
        assert time.monotonic() < deadline, fault
        time.sleep(0.02)


def _status(api: httpx.Client, session: dict[str, Any]) -> str:
    status: str = api.get(f"/v1/checkout/sessions/{session['id']}").json()["payment_status"]
    return status


def test_error_before_on_the_page_charges_nothing(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _session(api, "hf-1")
    fake.set_fault("error_before", "hosted", status=503)
    shown = _click_pay(session)
    assert shown.status_code == 503 and "Injected 503" in shown.text
    hit = _hit(fake)
    assert hit["effect"] == "answered 503 before any work"
    assert hit["money"] and not hit["charged"] and hit["path"] == f"/c/pay/{session['id']}"
    assert hit["request_id"] == shown.headers["Request-Id"]
    assert fake.charges("hf-1") == [] and _status(api, session) == "unpaid"
    assert _click_pay(session).status_code == 303  # used up: the next click pays
    assert len(fake.charges("hf-1")) == 1


def test_error_after_charges_but_shows_an_error(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _session(api, "hf-2")
    fake.set_fault("error_after", "hosted")
    shown = _click_pay(session)
    assert shown.status_code == 500 and "location" not in shown.headers
    hit = _hit(fake)
    assert hit["effect"] == "worked then answered 500" and hit["charged"]
    assert len(fake.charges("hf-2")) == 1 and _status(api, session) == "paid"


def test_drop_after_charges_and_the_browser_never_comes_back(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _session(api, "hf-3")
    fake.set_fault("drop_after", "hosted")
    with pytest.raises(httpx.RemoteProtocolError):
        _click_pay(session)
    hit = _hit(fake)
    assert hit["effect"] == "worked then dropped the connection" and hit["charged"]
    assert len(fake.charges("hf-3")) == 1 and _status(api, session) == "paid"
    assert COMPLETED in [e["type"] for e in fake.events()]  # the shop can still learn it
    [logged] = [r for r in fake.requests() if r["request_id"] == hit["request_id"]]
    assert logged["status"] is None and logged["money"] and logged["fault"] is not None


def test_hang_after_holds_the_redirect_until_the_browser_gives_up(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _session(api, "hf-4")
    fake.set_fault("hang_after", "hosted", delay_ms=20_000)
    with pytest.raises(httpx.ReadTimeout):
        _click_pay(session, timeout=0.4)
    hit = _hit(fake)
    assert re.fullmatch(
        r"worked then held the answer \d+\.\d\d s until the client closed the connection",
        hit["effect"] or "",
    ), hit
    assert hit["charged"] and len(fake.charges("hf-4")) == 1


def test_delay_slows_the_control_call_then_pays(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _session(api, "hf-5")
    fake.set_fault("delay", "POST /_fake/checkout/sessions/*/pay", delay_ms=300)
    started = time.monotonic()
    paid = fake.pay_checkout_session(session["id"])
    assert time.monotonic() - started >= 0.3 and paid["outcome"] == "paid"
    hit = _hit(fake)
    assert hit["effect"] == "delayed 300 ms, then worked normally" and hit["charged"]


def test_three_d_secure_completion_takes_hosted_faults(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    form = {
        "amount": "2500",
        "currency": "eur",
        "metadata[order_id]": "hf-6",
        "payment_method": "pm_card_threeDSecure2Required",
        "confirm": "true",
        "return_url": "https://shop.example/back",
    }
    intent = api.post("/v1/payment_intents", data=form).json()
    page = intent["next_action"]["redirect_to_url"]["url"]
    fake.set_fault("drop_after", "hosted")
    with httpx.Client(timeout=10) as browser, pytest.raises(httpx.RemoteProtocolError):
        browser.post(page, data={"outcome": "complete"})
    hit = _hit(fake)
    assert hit["charged"] and hit["path"] == f"/3ds/{intent['id']}"
    assert len(fake.charges("hf-6")) == 1


def test_api_faults_and_hosted_faults_do_not_cross(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    session = _session(api, "hf-7")
    fake.set_fault("error_before", "*", status=503)
    fake.set_fault("error_before", "money", status=503)
    assert _click_pay(session).status_code == 303  # '*' and 'money' stay on the API
    assert [f["fired"] for f in fake.faults()] == [0, 0]
    fake.clear_faults()
    fake.set_fault("error_before", "hosted", status=503)
    form = {"amount": "500", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}
    assert api.post("/v1/payment_intents", data=form).status_code == 200
    assert fake.faults()[0]["fired"] == 0


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"endpoint": "hosted", "mode": "in_flight"}, "mode"),
        ({"endpoint": "POST /3ds/*", "mode": "search_lag"}, "mode"),
        ({"endpoint": "money", "mode": "await_webhook"}, "endpoint"),
    ],
)
def test_modes_the_pages_cannot_take_are_refused(
    fake: FakeProviderClient, spec: dict[str, str], field: str
) -> None:
    with pytest.raises(FakeProviderError, match=rf"400: {field} for "):
        fake.set_fault(spec["mode"], spec["endpoint"])


def test_await_webhook_sends_the_webhook_before_the_redirect(
    api: httpx.Client, fake: FakeProviderClient, receiver: Receiver
) -> None:
    fake.register_webhook_endpoint(receiver.url, events=[COMPLETED], delay_ms=300)
    session = _session(api, "hf-8")
    fake.set_fault("await_webhook", "hosted")
    shown = _click_pay(session)
    redirected = time.time()
    assert shown.status_code == 303
    hit = _hit(fake)
    assert re.fullmatch(
        rf"worked then held the answer \d+\.\d\d s until {COMPLETED} was delivered",
        hit["effect"] or "",
    ), hit
    assert hit["charged"] and float((hit["effect"] or "").split()[5]) >= 0.3
    [delivery] = fake.deliveries()
    assert delivery["status"] == 200 and delivery["sent_at"] < redirected


def test_await_webhook_gives_up_at_its_limit(
    api: httpx.Client, fake: FakeProviderClient, receiver: Receiver
) -> None:
    fake.register_webhook_endpoint(receiver.url, events=[COMPLETED])
    fake.hold_webhooks([COMPLETED])
    session = _session(api, "hf-9")
    fake.set_fault("await_webhook", "hosted", delay_ms=300)
    assert _click_pay(session).status_code == 303
    assert _hit(fake)["effect"] == (
        f"worked then held the answer 0.3 s (the limit); {COMPLETED} undelivered"
    )


def test_a_webhook_hold_keeps_events_back_until_released(
    api: httpx.Client, fake: FakeProviderClient, receiver: Receiver, fake_server: ServerProcess
) -> None:
    fake.register_webhook_endpoint(receiver.url)
    hold = fake.hold_webhooks([COMPLETED])
    assert hold == {"events": [COMPLETED], "held": []}
    session = _session(api, "hf-10")
    assert _click_pay(session).status_code == 303  # the browser is back first
    assert fake.flush_webhooks(5)
    assert [d["event_type"] for d in fake.deliveries()] == ["payment_intent.succeeded"]
    [held] = fake.webhook_hold()["held"]
    assert fake.release_webhooks() == 1
    assert fake.flush_webhooks(5)
    assert [d["event_id"] for d in fake.deliveries()][-1] == held
    assert fake.webhook_hold() == {"events": [], "held": []}
    with httpx.Client(base_url=fake_server.url) as raw:
        bad = raw.post("/_fake/webhooks/hold", json={"events": ["charge.nope"]})
    assert bad.status_code == 400 and "events must be" in bad.json()["detail"]
    assert bad.headers["content-type"] == "application/problem+json"
