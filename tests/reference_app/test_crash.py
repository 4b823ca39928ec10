"""SIGKILL the checkout at its worst moments (test hook NODOUBLE_CRASH_AT), restart, recover."""

from __future__ import annotations

import time

import httpx
import pytest
from _checkout_support import FakeControl, Shopper, checkout_env, new_key

from harness._process import ServerProcess

pytestmark = pytest.mark.slow


def _crash_then_restart(db_url: str, fake_url: str, point: str) -> tuple[str, str, ServerProcess]:
    """Confirm once on a server that dies at ``point``; return (order, key, restarted)."""
    crashing = ServerProcess(
        "reference_app.app:create_app",
        env=checkout_env(db_url, fake_url, NODOUBLE_CRASH_AT=point, NODOUBLE_LEASE_SECONDS="1"),
    ).start()
    try:
        shopper = Shopper(crashing.url, "crash-victim")
        order = shopper.new_order()
        key = new_key()
        with pytest.raises(httpx.TransportError):
            shopper.confirm(order["order_id"], key)
        shopper.close()
        assert crashing.process is not None
        assert crashing.process.wait(10) != 0  # it really died
    finally:
        crashing.kill()
    env = checkout_env(db_url, fake_url, NODOUBLE_LEASE_SECONDS="1")
    restarted = ServerProcess("reference_app.app:create_app", env=env)
    return order["order_id"], key, restarted.start()


def test_killed_after_the_payment_row_a_retry_resumes_it(
    db_url: str, fake_server: ServerProcess, fake: FakeControl
) -> None:
    order_id, key, server = _crash_then_restart(db_url, fake_server.url, "after_payment_row")
    try:
        shopper = Shopper(server.url, "crash-victim")
        deadline = time.monotonic() + 20
        response = shopper.confirm(order_id, key)
        while response.status_code in {409, 202}:  # lease of the dead request, or settling
            assert time.monotonic() < deadline, response.text
            time.sleep(0.3)
            response = shopper.confirm(order_id, key)
        assert response.status_code == 200, response.text
        assert shopper.order(order_id)["status"] == "paid"
        assert fake.order(order_id)["charges"] == 1
        shopper.close()
    finally:
        server.stop()


def test_killed_after_the_provider_charged_the_reconciler_settles_it(
    db_url: str, fake_server: ServerProcess, fake: FakeControl
) -> None:
    order_id, key, server = _crash_then_restart(db_url, fake_server.url, "after_provider_call")
    try:
        assert fake.order(order_id)["charges"] == 1  # charged, but never recorded
        shopper = Shopper(server.url, "crash-victim")
        deadline = time.monotonic() + 20
        while shopper.order(order_id)["status"] != "paid":  # no client retry: the reconciler
            assert time.monotonic() < deadline, "the reconciler never settled the payment"
            time.sleep(0.3)
        response = shopper.confirm(order_id, key)
        while response.status_code == 409:  # the dead request's lease may still run
            assert time.monotonic() < deadline, response.text
            time.sleep(0.3)
            response = shopper.confirm(order_id, key)
        assert response.status_code == 200, response.text
        assert fake.order(order_id)["charges"] == 1
        shopper.close()
    finally:
        server.stop()
