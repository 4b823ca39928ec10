"""Real races: 50 threads released together by a barrier against a running checkout."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import pytest
from _checkout_support import FakeControl, Shopper, new_key

from harness._process import ServerProcess

THREADS = 50


def _burst(base_url: str, cookies: httpx.Cookies, order_id: str, keys: list[str]) -> list[int]:
    barrier = threading.Barrier(len(keys))
    statuses: list[int] = [0] * len(keys)

    def worker(index: int) -> None:
        with httpx.Client(base_url=base_url, cookies=cookies, timeout=60) as client:
            barrier.wait()
            response = client.post(
                f"/api/orders/{order_id}/confirm",
                json={"payment_method": "pm_card_visa"},
                headers={"Idempotency-Key": keys[index]},
            )
            statuses[index] = response.status_code

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return statuses


@pytest.mark.slow
def test_fifty_confirms_with_one_key_charge_once(
    checkout_server: ServerProcess, shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    key = new_key()
    statuses = _burst(checkout_server.url, shopper.http.cookies, order["order_id"], [key] * THREADS)

    counts = Counter(statuses)
    assert set(counts) <= {200, 409}, counts
    assert counts[200] >= 1
    assert fake.order(order["order_id"])["charges"] == 1
    final = shopper.confirm(order["order_id"], key)
    assert final.status_code == 200
    assert final.headers["idempotent-replayed"] == "true"
    assert shopper.order(order["order_id"])["status"] == "paid"


@pytest.mark.slow
def test_fifty_confirms_with_fifty_keys_for_one_order_charge_once(
    checkout_server: ServerProcess, shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    keys = [new_key() for _ in range(THREADS)]
    statuses = _burst(checkout_server.url, shopper.http.cookies, order["order_id"], keys)

    counts = Counter(statuses)
    assert set(counts) <= {200, 409}, counts
    assert fake.order(order["order_id"])["charges"] == 1
    assert fake.order(order["order_id"])["amount_charged"] == order["amount"]
    # every key that was refused with 409 now gets the one payment, not a new one
    payments = {shopper.confirm(order["order_id"], key).json()["payment_id"] for key in keys[:5]}
    assert len(payments) == 1
    assert fake.order(order["order_id"])["charges"] == 1
