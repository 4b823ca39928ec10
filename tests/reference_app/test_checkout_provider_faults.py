"""The provider's answer is lost or late: retries reuse the payment's key; one charge."""

from __future__ import annotations

import time

from _checkout_support import FakeControl, Shopper, new_key


def test_response_lost_after_the_charge_is_retried_with_the_same_key(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    fake.set_fault(endpoint="POST /v1/payment_intents", mode="drop_after", count=1)
    response = shopper.confirm(order["order_id"], new_key())

    assert response.status_code == 200, response.text
    charges = fake.charges(order["order_id"])
    assert len(charges) == 1
    assert charges[0]["idempotency_key"] == f"nodouble-pay-{response.json()['payment_id']}"
    assert shopper.order(order["order_id"])["status"] == "paid"


def test_provider_500_after_charging_is_never_reported_as_failed(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    # every attempt answers 500 after working: the charge happened, we cannot know it yet
    fake.set_fault(endpoint="POST /v1/payment_intents", mode="error_after", count=50)
    key = new_key()
    response = shopper.confirm(order["order_id"], key)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    assert shopper.order(order["order_id"])["payment"]["status"] == "PENDING"
    fake.clear_faults()
    # the reconciler (every 0.5 s in these servers) or a retry settles it: one charge, paid
    deadline = time.monotonic() + 15
    while shopper.order(order["order_id"])["status"] != "paid":
        assert time.monotonic() < deadline, "the payment was never settled"
        time.sleep(0.2)
    retry = shopper.confirm(order["order_id"], key)
    assert retry.status_code == 200, retry.text
    assert fake.order(order["order_id"])["charges"] == 1
