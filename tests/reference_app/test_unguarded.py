"""The overhead benchmark's unguarded confirm: absent unless switched on, and truly
unguarded when on (a repeat goes to the provider again), against real checkout processes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from _checkout_support import FakeControl, Shopper, checkout_env

from harness._process import ServerProcess
from reference_app import unguarded

BODY = {"payment_method": "pm_card_visa"}


def _path(order_id: str) -> str:
    return unguarded.PATH.format(order_id=order_id)


@pytest.fixture
def bench_shopper(fake_server: ServerProcess, tmp_path: Path) -> Iterator[Shopper]:
    env = checkout_env(f"sqlite:///{tmp_path / 'bench.sqlite3'}", fake_server.url)
    env["NODOUBLE_BENCH_UNGUARDED"] = "1"
    with ServerProcess("reference_app.app:create_app", env=env) as server:
        client = Shopper(server.url, "bench-" + secrets.token_hex(4))
        yield client
        client.close()


def test_the_unguarded_confirm_is_not_served_by_default(shopper: Shopper) -> None:
    order_id = shopper.new_order()["order_id"]
    response = shopper.http.post(_path(order_id), json=BODY)
    assert response.status_code == 404
    assert shopper.order(order_id)["status"] == "open"
    assert "/_bench/" not in shopper.http.get("/openapi.json").text


def test_the_unguarded_confirm_charges_marks_paid_and_sends_a_repeat_on(
    bench_shopper: Shopper, fake: FakeControl
) -> None:
    order_id = bench_shopper.new_order()["order_id"]
    first = bench_shopper.http.post(_path(order_id), json=BODY, headers={"Idempotency-Key": "k"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "paid" and first.json()["order_id"] == order_id
    view = bench_shopper.order(order_id)
    assert view["status"] == "paid" and view["payment"]["status"] == "CONFIRMED"
    assert fake.order(order_id)["charges"] == 1

    declined = bench_shopper.http.post(
        _path(order_id), json={"payment_method": "pm_card_chargeDeclined"}
    )
    assert declined.status_code == 402  # no guard: the paid order was sent to the provider again
    assert fake.order(order_id)["declines"] == 1

    missing = bench_shopper.http.post(_path("ord_nope"), json=BODY)
    assert missing.status_code == 404
