"""Hosted Checkout in the reference checkout: one payable session per order, fulfilled once.

Real processes: the fake provider and the checkout (SQLite, PostgreSQL, MariaDB). The
customer's payment on the provider's page is made through the fake's control call (what
its page does); webhooks are signed and posted here, so their order is the test's choice.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from _checkout_support import WEBHOOK_SECRET, FakeControl, Shopper, new_key
from sqlalchemy.orm import Session, sessionmaker

from harness._process import ServerProcess
from reference_app import db
from reference_app.hosted import HostedCheckout
from reference_app.hosted_provider import SessionsClient
from reference_app.models import HostedSession
from reference_app.webhooks import sign

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
API = {"Authorization": "Bearer sk_test_nodouble"}


def _token(shopper: Shopper, order_id: str) -> str:
    page = shopper.http.get(f"/checkout/{order_id}")
    assert page.status_code == 200, page.text
    assert 'id="pay-hosted"' in page.text
    assert "form-action 'self' http://127.0.0.1:" in page.headers["content-security-policy"]
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def _click(shopper: Shopper, order_id: str, token: str) -> httpx.Response:
    return shopper.http.post(
        f"/checkout/{order_id}/hosted", data={"csrf_token": token}, follow_redirects=False
    )


def _session_of(location: str) -> str:
    match = re.search(r"/c/pay/(cs_[A-Za-z0-9_]+)$", location)
    assert match, location
    return match.group(1)


def _opened(shopper: Shopper) -> tuple[dict[str, Any], str, str]:
    """A new order, its confirm page's CSRF token, and the session its hosted button made."""
    order = shopper.new_order()
    token = _token(shopper, order["order_id"])
    location = _click(shopper, order["order_id"], token).headers["location"]
    return order, token, _session_of(location)


def _pay(fake: FakeControl, session_id: str) -> dict[str, Any]:
    answer = fake.http.post(f"/_fake/checkout/sessions/{session_id}/pay", json={})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _deliver(shopper: Shopper, fake: FakeControl, kind: str, session_id: str) -> dict[str, Any]:
    """Post a signed ``kind`` event carrying the session as the provider has it now."""
    session = fake.http.get(f"/v1/checkout/sessions/{session_id}", headers=API).json()
    now = int(time.time())
    event = {"id": f"evt_test_{now}_{session_id[-12:]}_{kind[-9:]}", "object": "event",
             "type": kind, "created": now, "data": {"object": session}}  # fmt: skip
    payload = json.dumps(event)
    response = shopper.http.post(
        "/webhooks/provider",
        content=payload,
        headers={"Stripe-Signature": sign(payload.encode(), WEBHOOK_SECRET, now),
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _return(shopper: Shopper, redirect_url: str) -> httpx.Response:
    parts = urlsplit(redirect_url)
    return shopper.http.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def test_every_click_and_tab_lands_on_one_session_and_pays_once(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    token = _token(shopper, order["order_id"])
    barrier = threading.Barrier(8)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def click() -> None:  # eight tabs and fingers at once
        barrier.wait()
        response = _click(shopper, order["order_id"], token)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [303] * 8
    locations = {a.headers["location"] for a in answers}
    assert len(locations) == 1, locations
    assert answers[0].headers["cache-control"] == "no-store"
    session_id = _session_of(locations.pop())
    paid = _pay(fake, session_id)
    assert paid["outcome"] == "paid"
    assert paid["session"]["metadata"]["order_id"] == order["order_id"]
    assert paid["session"]["client_reference_id"] == order["order_id"]
    # Back to the confirm page and click again: the order is paid, nothing is made.
    again = _click(shopper, order["order_id"], token)
    assert again.status_code == 303
    assert again.headers["location"] == f"/success?orderId={order['order_id']}"
    for _ in range(3):  # the success URL, reloaded: one fulfilment, no charge
        page = _return(shopper, paid["redirect_url"])
        assert page.status_code == 200, page.text
        assert page.headers["cache-control"] == "no-store"
        assert 'data-testid="success"' in page.text
    view = shopper.order(order["order_id"])
    assert view["status"] == "paid"
    assert view["payment"]["status"] == "CONFIRMED"
    assert len(fake.charges(order["order_id"])) == 1
    assert fake.order(order["order_id"])["amount_charged"] == order["amount"]


@pytest.mark.parametrize("webhook_first", [True, False], ids=["webhook-first", "redirect-first"])
def test_webhook_and_redirect_fulfil_once_in_either_order(
    shopper: Shopper, fake: FakeControl, webhook_first: bool
) -> None:
    order, _, session_id = _opened(shopper)
    paid = _pay(fake, session_id)
    assert shopper.order(order["order_id"])["status"] == "open"  # nobody told the shop yet
    if webhook_first:
        assert _deliver(shopper, fake, "checkout.session.completed", session_id) == {
            "received": True, "handling": "processed"}  # fmt: skip
        first = shopper.order(order["order_id"])
        assert first["status"] == "paid"
        assert _return(shopper, paid["redirect_url"]).status_code == 200
    else:
        assert _return(shopper, paid["redirect_url"]).status_code == 200
        first = shopper.order(order["order_id"])
        assert first["status"] == "paid"
        handled = _deliver(shopper, fake, "checkout.session.completed", session_id)
        assert handled["handling"] == "ignored"  # already fulfilled by the redirect
    last = shopper.order(order["order_id"])
    assert last["payment"]["payment_id"] == first["payment"]["payment_id"]
    assert len(fake.charges(order["order_id"])) == 1


def test_the_success_url_answers_get_only(shopper: Shopper, fake: FakeControl) -> None:
    order, token, session_id = _opened(shopper)
    paid = _pay(fake, session_id)
    parts = urlsplit(paid["redirect_url"])
    posted = shopper.http.post(
        f"{parts.path}?{parts.query}", data={"csrf_token": token}, follow_redirects=False
    )
    assert posted.status_code == 405, posted.text
    assert shopper.order(order["order_id"])["status"] == "open"  # the POST fulfilled nothing
    assert _return(shopper, paid["redirect_url"]).status_code == 200
    assert shopper.order(order["order_id"])["status"] == "paid"
    assert len(fake.charges(order["order_id"])) == 1


def test_an_expired_session_is_replaced_and_cannot_be_paid(
    shopper: Shopper, fake: FakeControl
) -> None:
    order, token, old = _opened(shopper)
    expired = fake.http.post(f"/v1/checkout/sessions/{old}/expire", headers=API)
    assert expired.status_code == 200, expired.text
    assert _deliver(shopper, fake, "checkout.session.expired", old)["handling"] == "processed"
    new = _session_of(_click(shopper, order["order_id"], token).headers["location"])
    assert new != old
    assert fake.http.post(f"/_fake/checkout/sessions/{old}/pay", json={}).status_code == 409
    assert _pay(fake, new)["outcome"] == "paid"
    assert len(fake.charges(order["order_id"])) == 1


def test_a_session_expired_without_its_webhook_is_replaced_on_the_next_click(
    shopper: Shopper, fake: FakeControl
) -> None:
    order, token, old = _opened(shopper)
    assert fake.http.post(f"/v1/checkout/sessions/{old}/expire", headers=API).status_code == 200
    new = _session_of(_click(shopper, order["order_id"], token).headers["location"])
    assert new != old


def test_the_return_page_refuses_a_session_of_another_order(
    shopper: Shopper, fake: FakeControl
) -> None:
    first, second = shopper.new_order(), shopper.new_order()
    token = _token(shopper, first["order_id"])
    session_id = _session_of(_click(shopper, first["order_id"], token).headers["location"])
    _pay(fake, session_id)
    wrong = shopper.http.get(
        f"/checkout/{second['order_id']}/hosted/return", params={"session_id": session_id}
    )
    assert wrong.status_code == 404
    assert shopper.order(second["order_id"])["status"] == "open"
    unpaid = shopper.http.get(
        f"/checkout/{first['order_id']}/hosted/return",
        params={"session_id": "cs_test_unknown"},
    )
    assert unpaid.status_code == 404
    assert shopper.http.post(f"/checkout/{first['order_id']}/hosted").status_code == 403


def test_a_card_payment_closes_the_open_session_first(shopper: Shopper, fake: FakeControl) -> None:
    order, _, session_id = _opened(shopper)
    paid = shopper.confirm(order["order_id"], new_key())
    assert paid.status_code == 200, paid.text
    late = fake.http.post(f"/_fake/checkout/sessions/{session_id}/pay", json={})
    assert late.status_code == 409  # expired before the card was charged: cannot pay twice
    assert len(fake.charges(order["order_id"])) == 1


def test_a_card_payment_after_an_unreported_hosted_one_charges_nothing(
    shopper: Shopper, fake: FakeControl
) -> None:
    order, _, session_id = _opened(shopper)
    _pay(fake, session_id)  # neither the redirect nor the webhook has reached the shop
    answer = shopper.confirm(order["order_id"], new_key())
    assert answer.status_code == 200, answer.text
    assert answer.json()["provider_payment_intent"] is not None
    assert shopper.order(order["order_id"])["payment"]["status"] == "CONFIRMED"
    assert len(fake.charges(order["order_id"])) == 1


def _race_click_and_card(
    shopper: Shopper, order_id: str, token: str
) -> tuple[httpx.Response, httpx.Response]:
    """A hosted click and an API card payment of one order, released at the same instant."""
    barrier = threading.Barrier(2)
    got: dict[str, httpx.Response] = {}

    def click() -> None:
        barrier.wait()
        got["click"] = _click(shopper, order_id, token)

    def card() -> None:
        barrier.wait()
        got["card"] = shopper.confirm(order_id, new_key())

    threads = [threading.Thread(target=click), threading.Thread(target=card)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got["click"], got["card"]


def test_a_hosted_click_racing_a_card_payment_never_leaves_both_payable(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The card route closes the order's sessions with a plain read before its claim; a
    click landing between the two opens a session the card claim must see (under the order
    lock) and refuse with 409, or the customer could pay the card and the session."""
    answers: dict[int, int] = {}
    for _ in range(20):
        order = shopper.new_order()
        token = _token(shopper, order["order_id"])
        clicked, paid = _race_click_and_card(shopper, order["order_id"], token)
        answers[paid.status_code] = answers.get(paid.status_code, 0) + 1
        assert paid.status_code in (200, 409), paid.text
        if paid.status_code == 409:
            assert paid.json()["type"].endswith("/hosted-session-open")
        location = clicked.headers.get("location", "")
        if "/c/pay/" in location:  # the customer pays whatever page the click opened
            fake.http.post(f"/_fake/checkout/sessions/{_session_of(location)}/pay", json={})
        assert len(fake.charges(order["order_id"])) <= 1, (answers, location)
        if paid.status_code == 409:  # refused: the session it raced is the payable one
            assert len(fake.charges(order["order_id"])) == 1
    assert sum(answers.values()) == 20


@pytest.fixture
def sweeper(
    db_url: str, fake_server: ServerProcess
) -> Iterator[tuple[HostedCheckout, sessionmaker[Session]]]:
    """The reconciler's sweep on the checkout server's own database, run when the test says
    (the server's reconciler sweeps too, but only sessions open for over a minute)."""
    engine = db.make_engine(db_url)
    sessions = db.make_sessionmaker(engine)
    client = SessionsClient(fake_server.url, API["Authorization"].split()[1], timeout=5.0,
                            max_attempts=2)  # fmt: skip
    hosted = HostedCheckout(sessions, client, "")
    yield hosted, sessions
    hosted.close()
    engine.dispose()


def _row_status(sessions: sessionmaker[Session], session_id: str) -> str:
    return db.transaction(
        sessions,
        lambda s: s.execute(
            sa.select(HostedSession.status).where(HostedSession.provider_session_id == session_id)
        ).scalar_one(),
    )


def test_the_sweep_settles_sessions_whose_webhook_and_redirect_never_came(
    shopper: Shopper, fake: FakeControl, sweeper: tuple[HostedCheckout, sessionmaker[Session]]
) -> None:
    hosted, sessions = sweeper
    paid_order, _, paid_session = _opened(shopper)
    _, _, expired_session = _opened(shopper)
    open_order, _, open_session = _opened(shopper)
    _pay(fake, paid_session)  # neither the redirect nor the webhook reaches the shop
    gone = fake.http.post(f"/v1/checkout/sessions/{expired_session}/expire", headers=API)
    assert gone.status_code == 200, gone.text
    assert hosted.sweep(older_than=timedelta(hours=1)) == 0  # all younger than that
    assert shopper.order(paid_order["order_id"])["status"] == "open"
    assert hosted.sweep(older_than=timedelta(0)) >= 2  # other tests' sessions may count
    paid = shopper.order(paid_order["order_id"])
    assert paid["status"] == "paid"
    assert paid["payment"]["status"] == "CONFIRMED"
    assert _row_status(sessions, expired_session) == "expired"
    assert _row_status(sessions, open_session) == "open"  # still payable: left alone
    assert shopper.order(open_order["order_id"])["status"] == "open"
    hosted.sweep(older_than=timedelta(0))  # again: nothing is fulfilled twice
    assert shopper.order(paid_order["order_id"])["payment"] == paid["payment"]
    assert len(fake.charges(paid_order["order_id"])) == 1
