"""3-D Secure in the reference checkout, against a real server process and the fake.

A card that asks for 3-D Secure leaves the order unpaid with a challenge; the return page
reads the intent (never confirms again); a new Pay confirms the same intent; completing a
stale challenge later charges nothing more.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import httpx
from _checkout_support import WEBHOOK_SECRET, FakeControl, Shopper, new_key

from reference_app.webhooks import sign

THREEDS = "pm_card_threeDSecure2Required"
TABS = 12


def _challenge(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "requires_action"
    url: str = body["next_action"]["redirect_to_url"]["url"]
    assert "/3ds/pi_" in url
    return url


def _finish(fake: FakeControl, challenge: str, outcome: str = "complete") -> dict[str, Any]:
    intent_id = challenge.rsplit("/", 1)[1]
    response = fake.http.post(f"/_fake/3ds/{intent_id}", json={"outcome": outcome})
    assert response.status_code == 200, response.text
    done: dict[str, Any] = response.json()
    return done


def _return(shopper: Shopper, order_id: str) -> httpx.Response:
    return shopper.http.get(f"/checkout/{order_id}/return", follow_redirects=False)


def test_challenge_then_return_page_reads_the_intent(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    key = new_key()
    first = shopper.confirm(order["order_id"], key, THREEDS)
    challenge = _challenge(first)
    shown = shopper.order(order["order_id"])
    assert shown["status"] == "open"
    assert shown["payment"]["status"] == "PENDING"
    assert shown["payment"]["action_url"] == challenge
    assert fake.order(order["order_id"])["charges"] == 0

    replay = shopper.confirm(order["order_id"], key, THREEDS)
    assert replay.status_code == 202
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()

    done = _finish(fake, challenge)
    assert done["changed"] is True
    assert done["redirect_url"].startswith(str(shopper.http.base_url).rstrip("/"))
    for _ in range(3):  # the return page, then Reload twice: reads only
        back = _return(shopper, order["order_id"])
        assert back.status_code == 303
        assert back.headers["location"].startswith("/success")
        assert back.headers["cache-control"] == "no-store"
    assert shopper.order(order["order_id"])["status"] == "paid"
    assert fake.order(order["order_id"])["charges"] == 1


def test_new_card_confirms_the_same_intent(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    challenge = _challenge(shopper.confirm(order["order_id"], new_key(), THREEDS))
    again = shopper.confirm(order["order_id"], new_key(), THREEDS)  # a second tab
    assert _challenge(again) == challenge  # the same intent, the same challenge
    paid = shopper.confirm(order["order_id"], new_key(), "pm_card_visa")  # abandoned: new card
    assert paid.status_code == 200, paid.text
    assert challenge.endswith(paid.json()["provider_payment_intent"])
    late = _finish(fake, challenge)  # the abandoned challenge, completed afterwards
    assert late["changed"] is False
    assert _return(shopper, order["order_id"]).headers["location"].startswith("/success")
    assert fake.order(order["order_id"])["charges"] == 1


def test_failed_challenge_lets_the_customer_pay_again(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    challenge = _challenge(shopper.confirm(order["order_id"], new_key(), THREEDS))
    _finish(fake, challenge, "fail")
    back = _return(shopper, order["order_id"])
    assert back.status_code == 303
    assert back.headers["location"] == f"/checkout/{order['order_id']}"
    shown = shopper.order(order["order_id"])
    assert shown["status"] == "open"
    assert shown["payment"]["status"] == "FAILED"
    assert shown["payment"]["failure_code"] == "payment_intent_authentication_failure"
    paid = shopper.confirm(order["order_id"], new_key(), "pm_card_visa")
    assert paid.status_code == 200, paid.text
    assert fake.order(order["order_id"])["charges"] == 1


def test_reconciler_settles_a_challenge_completed_without_return(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    challenge = _challenge(shopper.confirm(order["order_id"], new_key(), THREEDS))
    time.sleep(1.5)  # several reconciler passes: an awaited challenge stays PENDING
    assert shopper.order(order["order_id"])["payment"]["status"] == "PENDING"
    _finish(fake, challenge)
    deadline = time.monotonic() + 10
    while shopper.order(order["order_id"])["status"] != "paid":
        assert time.monotonic() < deadline, "the reconciler never settled the intent"
        time.sleep(0.2)
    assert fake.order(order["order_id"])["charges"] == 1


def test_confirm_page_offers_pay_while_awaiting(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    challenge = _challenge(shopper.confirm(order["order_id"], new_key(), THREEDS))
    page = shopper.http.get(f"/checkout/{order['order_id']}", follow_redirects=False)
    assert page.status_code == 200
    assert 'data-testid="authentication-pending"' in page.text
    assert challenge in page.text
    assert f"form-action 'self' {fake.url}" in page.headers["content-security-policy"]
    progress = shopper.http.get(f"/checkout/{order['order_id']}/progress", follow_redirects=False)
    assert progress.status_code == 303


def test_tabs_racing_to_pay_an_awaited_challenge_charge_once(
    shopper: Shopper, fake: FakeControl
) -> None:
    """Tabs released together by a barrier, each with its own key, half with the 3-D Secure
    card again and half with another card, while the first attempt awaits its challenge."""
    order = shopper.new_order()
    challenge = _challenge(shopper.confirm(order["order_id"], new_key(), THREEDS))
    barrier = threading.Barrier(TABS)
    answers: list[tuple[int, dict[str, Any]]] = [(0, {})] * TABS

    def tab(index: int) -> None:
        card = THREEDS if index % 2 else "pm_card_visa"
        with httpx.Client(
            base_url=shopper.http.base_url, cookies=shopper.http.cookies, timeout=60
        ) as client:
            barrier.wait()
            response = client.post(
                f"/api/orders/{order['order_id']}/confirm",
                json={"payment_method": card},
                headers={"Idempotency-Key": new_key()},
            )
            answers[index] = (response.status_code, response.json())

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(TABS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    counts = Counter(status for status, _ in answers)
    assert set(counts) <= {200, 202, 409}, answers
    for status, body in answers:
        if status == 202:  # a 3-D Secure card that came first: the same challenge
            assert body["next_action"]["redirect_to_url"]["url"] == challenge
    _finish(fake, challenge)  # the first tab completes its challenge afterwards
    _return(shopper, order["order_id"])
    assert shopper.order(order["order_id"])["status"] == "paid"
    assert fake.order(order["order_id"])["charges"] == 1


def test_challenge_completed_without_return_then_new_card_charges_once(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The customer completes the challenge, never loads the return page, and pays again
    with another card: the reconfirm finds the intent already succeeded, which means paid
    (review 12 item 1: it used to be taken for a decline, and the next Pay charged again)."""
    order = shopper.new_order()
    challenge = _challenge(shopper.confirm(order["order_id"], new_key(), THREEDS))
    assert _finish(fake, challenge)["changed"] is True  # no return page loaded
    paid = shopper.confirm(order["order_id"], new_key(), "pm_card_visa")
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    assert challenge.endswith(paid.json()["provider_payment_intent"])
    again = shopper.confirm(order["order_id"], new_key(), "pm_card_visa")
    assert again.status_code == 200, again.text
    assert again.json()["payment_id"] == paid.json()["payment_id"]
    assert shopper.order(order["order_id"])["status"] == "paid"
    assert fake.order(order["order_id"])["charges"] == 1


def _confirm_manual(shopper: Shopper, order_id: str, card: str) -> httpx.Response:
    return shopper.http.post(
        f"/api/orders/{order_id}/confirm",
        json={"payment_method": card, "capture_method": "manual"},
        headers={"Idempotency-Key": new_key()},
    )


def _capture(shopper: Shopper, order_id: str) -> httpx.Response:
    return shopper.http.post(
        f"/api/orders/{order_id}/capture", headers={"Idempotency-Key": new_key()}
    )


def test_manual_capture_challenge_then_return_page_records_the_authorisation(
    shopper: Shopper, fake: FakeControl
) -> None:
    """3-D Secure with manual capture: the return page reads requires_capture and records
    the authorisation at once (no wait for the reconciler); the stale challenge is gone, a
    new Pay answers "authorized" (never a decline), and the capture takes the money once."""
    order_id = shopper.new_order()["order_id"]
    challenge = _challenge(_confirm_manual(shopper, order_id, THREEDS))
    _finish(fake, challenge)
    _return(shopper, order_id)
    shown = shopper.order(order_id)
    assert shown["status"] == "authorized", shown
    assert shown["payment"]["capture_status"] == "authorized"
    assert shown["payment"]["action_url"] is None
    again = _confirm_manual(shopper, order_id, "pm_card_visa")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "authorized"
    assert fake.order(order_id)["charges"] == 0
    captured = _capture(shopper, order_id)
    assert captured.status_code == 200, captured.text
    assert shopper.order(order_id)["status"] == "paid"
    assert fake.order(order_id)["charges"] == 1


def test_manual_capture_challenge_then_new_pay_records_the_authorisation(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The same without the return page: the reconfirm finds requires_capture and records
    the authorisation (it used to mark the payment FAILED while the money stayed held)."""
    order_id = shopper.new_order()["order_id"]
    challenge = _challenge(_confirm_manual(shopper, order_id, THREEDS))
    _finish(fake, challenge)
    again = _confirm_manual(shopper, order_id, "pm_card_visa")
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "authorized"
    shown = shopper.order(order_id)
    assert shown["payment"]["status"] == "PENDING"
    assert shown["payment"]["capture_status"] == "authorized"
    assert shown["payment"]["action_url"] is None
    captured = _capture(shopper, order_id)
    assert captured.status_code == 200, captured.text
    assert fake.order(order_id)["charges"] == 1


def _new_card_held_at_the_provider(
    shopper: Shopper, fake: FakeControl, order_id: str
) -> tuple[threading.Thread, list[httpx.Response]]:
    """A Pay with another card whose confirm of the awaited intent the fake holds 1.2 s
    (its lease, 2 s, stays live meanwhile); returns the running request and its answer."""
    fake.set_fault(endpoint="POST /v1/payment_intents/*/confirm", mode="delay", delay_ms=1200,
                   count=1)  # fmt: skip
    answers: list[httpx.Response] = []

    def pay() -> None:
        with httpx.Client(
            base_url=shopper.http.base_url, cookies=shopper.http.cookies, timeout=30
        ) as client:
            answers.append(
                client.post(
                    f"/api/orders/{order_id}/confirm",
                    json={"payment_method": "pm_card_visa"},
                    headers={"Idempotency-Key": new_key()},
                )
            )

    thread = threading.Thread(target=pay)
    thread.start()
    time.sleep(0.4)  # the confirm has claimed the payment and waits at the provider
    return thread, answers


def _settled_by_the_new_card(
    shopper: Shopper, fake: FakeControl, order_id: str, thread: threading.Thread,
    answers: list[httpx.Response],
) -> None:  # fmt: skip
    thread.join(30)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert answers[0].json()["status"] == "paid"
    shown = shopper.order(order_id)
    assert shown["status"] == "paid"
    assert shown["payment"]["status"] == "CONFIRMED"
    assert fake.order(order_id)["charges"] == 1


def test_failed_challenge_return_page_leaves_a_new_card_in_flight_alone(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The challenge fails and the customer lands on the return page while another tab's
    new card is being confirmed on the same intent: the return page must not fail the
    payment under that request (it used to, and the charge then met a FAILED payment)."""
    order_id = shopper.new_order()["order_id"]
    challenge = _challenge(shopper.confirm(order_id, new_key(), THREEDS))
    thread, answers = _new_card_held_at_the_provider(shopper, fake, order_id)
    _finish(fake, challenge, "fail")
    assert _return(shopper, order_id).status_code == 303
    assert shopper.order(order_id)["payment"]["status"] == "PENDING"
    _settled_by_the_new_card(shopper, fake, order_id, thread, answers)


def _deliver_failed_challenge(shopper: Shopper, intent_id: str, payment_id: str) -> httpx.Response:
    """Deliver, signed, the provider's payment_intent.payment_failed for a failed challenge."""
    event = {
        "id": "evt_" + new_key(),
        "object": "event",
        "type": "payment_intent.payment_failed",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "status": "requires_payment_method",
                "last_payment_error": {"code": "payment_intent_authentication_failure"},
                "metadata": {"payment_id": payment_id},
            }
        },
    }
    body = json.dumps(event).encode()
    return shopper.http.post(
        "/webhooks/provider",
        content=body,
        headers={
            "Stripe-Signature": sign(body, WEBHOOK_SECRET, int(time.time())),
            "Content-Type": "application/json",
        },
    )


def test_failed_challenge_webhook_leaves_a_new_card_in_flight_alone(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The same with the provider's payment_intent.payment_failed event for the challenge."""
    order_id = shopper.new_order()["order_id"]
    first = shopper.confirm(order_id, new_key(), THREEDS)
    challenge = _challenge(first)
    intent_id = challenge.rsplit("/", 1)[1]
    thread, answers = _new_card_held_at_the_provider(shopper, fake, order_id)
    _finish(fake, challenge, "fail")
    delivered = _deliver_failed_challenge(shopper, intent_id, first.json()["payment_id"])
    assert delivered.status_code == 200, delivered.text
    assert shopper.order(order_id)["payment"]["status"] == "PENDING"
    _settled_by_the_new_card(shopper, fake, order_id, thread, answers)


def test_stale_failed_event_leaves_a_newer_challenge_alone(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The first challenge fails; the customer pays again with another 3-D Secure card and
    gets a new challenge on the same intent; only then does the provider's payment_failed
    event for the first challenge arrive. It must not fail the payment: the webhook reads
    the intent (requires_action again) and leaves it to the new challenge, which pays."""
    order_id = shopper.new_order()["order_id"]
    first = shopper.confirm(order_id, new_key(), THREEDS)
    challenge = _challenge(first)
    intent_id = challenge.rsplit("/", 1)[1]
    _finish(fake, challenge, "fail")
    second = _challenge(shopper.confirm(order_id, new_key(), "pm_card_threeDSecureRequired"))
    delivered = _deliver_failed_challenge(shopper, intent_id, first.json()["payment_id"])
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["handling"] == "processed"
    assert shopper.order(order_id)["payment"]["status"] == "PENDING"
    _finish(fake, second)
    assert _return(shopper, order_id).status_code == 303
    shown = shopper.order(order_id)
    assert shown["status"] == "paid" and shown["payment"]["status"] == "CONFIRMED"
    assert fake.order(order_id)["charges"] == 1
