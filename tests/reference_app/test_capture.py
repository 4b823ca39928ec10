"""Manual capture: the confirm authorises, the capture takes the money exactly once.

Against a real checkout process and the real fake provider, on every database (the
capture adds columns and a phase that locks rows).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from _checkout_support import FakeControl, Shopper, new_key


def authorise(shopper: Shopper) -> tuple[dict[str, Any], httpx.Response]:
    order = shopper.new_order()
    return order, authorise_order(shopper, order["order_id"])[1]


def authorise_order(shopper: Shopper, order_id: str) -> tuple[str, httpx.Response]:
    """Confirm with manual capture (a new key): the provider only holds the amount."""
    key = new_key()
    response = shopper.http.post(
        f"/api/orders/{order_id}/confirm",
        json={"payment_method": "pm_card_visa", "capture_method": "manual"},
        headers={"Idempotency-Key": key},
    )
    return key, response


def capture(shopper: Shopper, order_id: str, key: str | None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return shopper.http.post(f"/api/orders/{order_id}/capture", headers=headers)


def patiently(send: Callable[[], httpx.Response], seconds: float = 15) -> httpx.Response:
    """Send again while the answer is "not decided yet" (202 or 409), as a client would."""
    deadline = time.monotonic() + seconds
    answer = send()
    while answer.status_code in (202, 409):
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)
        answer = send()
    return answer


def test_confirm_only_authorises_and_capture_takes_the_money_once(
    shopper: Shopper, fake: FakeControl
) -> None:
    order, confirmed = authorise(shopper)
    order_id = order["order_id"]
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "authorized"
    shown = shopper.order(order_id)
    assert shown["status"] == "authorized"
    assert shown["payment"]["capture_status"] == "authorized"
    assert fake.charges(order_id) == []  # held, not taken

    key = new_key()
    first = capture(shopper, order_id, key)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "paid"
    again = capture(shopper, order_id, key)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = capture(shopper, order_id, new_key())  # another key: answered, nothing taken
    assert other.status_code == 200
    assert other.json()["status"] == "paid"

    charges = fake.charges(order_id)
    assert len(charges) == 1
    payment_id = first.json()["payment_id"]
    assert charges[0]["idempotency_key"] == f"nodouble-capture-{payment_id}"
    assert charges[0]["amount"] == order["amount"]
    assert shopper.order(order_id)["status"] == "paid"


def test_capture_whose_answer_was_lost_is_retried_safely(
    shopper: Shopper, fake: FakeControl
) -> None:
    order, _ = authorise(shopper)
    order_id = order["order_id"]
    # every attempt of the checkout's capture is dropped after the provider did the work
    fake.set_fault(endpoint="POST /v1/payment_intents/*/capture", mode="drop_after", count=20)
    key = new_key()
    lost = capture(shopper, order_id, key)
    assert lost.status_code == 202, lost.text
    assert lost.json()["status"] == "processing"
    assert len(fake.charges(order_id)) == 1  # the money was taken
    fake.clear_faults()
    retry = patiently(lambda: capture(shopper, order_id, key))
    assert retry.status_code == 200, retry.text
    assert retry.json()["status"] == "paid"
    assert len(fake.charges(order_id)) == 1
    assert shopper.order(order_id)["status"] == "paid"


def test_capture_answered_500_after_the_work_is_reconciled(
    shopper: Shopper, fake: FakeControl
) -> None:
    order, _ = authorise(shopper)
    order_id = order["order_id"]
    # the 500 is stored under the capture's key: a replay answers it again
    fake.set_fault(endpoint="POST /v1/payment_intents/*/capture", mode="error_after", count=20)
    lost = capture(shopper, order_id, new_key())
    assert lost.status_code == 202, lost.text
    assert shopper.order(order_id)["payment"]["capture_status"] == "capturing"
    fake.clear_faults()
    deadline = time.monotonic() + 15  # the reconciler runs every 0.5 s here
    while shopper.order(order_id)["status"] != "paid":
        assert time.monotonic() < deadline, "the capture was never reconciled"
        time.sleep(0.2)
    assert len(fake.charges(order_id)) == 1


def test_capture_refusals(shopper: Shopper, fake: FakeControl) -> None:
    paid = shopper.new_order()
    assert shopper.confirm(paid["order_id"], new_key()).status_code == 200
    nothing = capture(shopper, paid["order_id"], new_key())  # automatic: nothing held
    assert nothing.status_code == 409
    assert nothing.headers["content-type"].startswith("application/problem+json")
    order, _ = authorise(shopper)
    missing = capture(shopper, order["order_id"], None)
    assert missing.status_code == 400
    assert "Idempotency-Key" in missing.json()["detail"]
    stranger = Shopper(str(shopper.http.base_url), shopper.user + "-other")
    try:
        assert capture(stranger, order["order_id"], new_key()).status_code == 404
    finally:
        stranger.close()
    key = new_key()  # a capture key reused for a confirm is another request: refused
    assert capture(shopper, order["order_id"], key).status_code == 200
    assert shopper.confirm(order["order_id"], key).status_code == 422
    assert len(fake.charges(order["order_id"])) == 1
    assert fake.charges(paid["order_id"])[0]["amount"] == paid["amount"]


def test_retry_with_a_new_key_under_search_lag_charges_once(
    shopper: Shopper, fake: FakeControl
) -> None:
    """The order's own live payment is the guard, not a provider search: while search hides
    the first charge, a second click (a new key) reuses that payment and its provider key."""
    order = shopper.new_order()
    order_id = order["order_id"]
    fake.set_fault(endpoint="GET /v1/payment_intents/search", mode="search_lag", delay_ms=60_000)
    fake.set_fault(endpoint="POST /v1/payment_intents", mode="drop_after", count=8)
    first = shopper.confirm(order_id, new_key())
    assert first.status_code == 202, first.text
    key = new_key()
    second = patiently(lambda: shopper.confirm(order_id, key))
    assert second.status_code == 200, second.text
    assert second.json()["payment_id"] == first.json()["payment_id"]
    assert len(fake.charges(order_id)) == 1
    assert shopper.order(order_id)["status"] == "paid"


def test_an_authorisation_whose_answer_was_lost_is_found_by_the_reconciler(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    order_id = order["order_id"]
    fake.set_fault(endpoint="POST /v1/payment_intents", mode="drop_after", count=20)
    _, lost = authorise_order(shopper, order_id)
    assert lost.status_code == 202, lost.text
    fake.clear_faults()
    deadline = time.monotonic() + 15  # the reconciler runs every 0.5 s here
    while shopper.order(order_id)["status"] != "authorized":
        assert time.monotonic() < deadline, shopper.order(order_id)
        time.sleep(0.2)
    assert fake.charges(order_id) == []  # found as held, not taken
    taken = capture(shopper, order_id, new_key())
    assert taken.status_code == 200, taken.text
    assert len(fake.charges(order_id)) == 1


def test_twenty_captures_released_together_take_the_money_once(
    shopper: Shopper, fake: FakeControl
) -> None:
    """A real race: 20 threads, each its own key and connection, released by a barrier."""
    order, _ = authorise(shopper)
    order_id = order["order_id"]
    fake.set_fault(endpoint="POST /v1/payment_intents/*/capture", mode="delay", delay_ms=300)
    keys = [new_key() for _ in range(20)]
    barrier = threading.Barrier(len(keys))
    statuses = [0] * len(keys)

    def worker(index: int) -> None:
        with httpx.Client(
            base_url=str(shopper.http.base_url), cookies=shopper.http.cookies, timeout=60
        ) as client:
            barrier.wait()
            response = client.post(
                f"/api/orders/{order_id}/capture", headers={"Idempotency-Key": keys[index]}
            )
            statuses[index] = response.status_code

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert set(statuses) <= {200, 409}, statuses
    assert statuses.count(200) >= 1
    assert len(fake.charges(order_id)) == 1
    fake.clear_faults()
    for key in keys:  # every key ends with the one payment's answer
        answer = patiently(functools.partial(capture, shopper, order_id, key))
        assert answer.status_code == 200 and answer.json()["status"] == "paid", answer.text
    assert len(fake.charges(order_id)) == 1
