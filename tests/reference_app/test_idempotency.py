"""Repeated confirms against a real checkout process, on every database."""

from __future__ import annotations

import httpx
from _checkout_support import FakeControl, Shopper, new_key

from harness._process import ServerProcess


def test_confirm_twice_with_one_key_charges_once(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    key = new_key()
    first = shopper.confirm(order["order_id"], key)
    second = shopper.confirm(order["order_id"], key)

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "paid"
    assert first.json()["amount"] == 5000 == order["amount"]
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert first.headers["cache-control"] == "no-store"
    assert fake.order(order["order_id"])["charges"] == 1
    assert shopper.order(order["order_id"])["status"] == "paid"


def test_a_new_key_for_a_paid_order_answers_the_existing_payment(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    first = shopper.confirm(order["order_id"], new_key())
    again = shopper.confirm(order["order_id"], new_key())  # Back, then Confirm again

    assert first.status_code == again.status_code == 200
    assert again.json()["payment_id"] == first.json()["payment_id"]
    assert fake.order(order["order_id"])["charges"] == 1


def test_decline_is_failed_and_replayed_then_a_new_key_may_pay(
    shopper: Shopper, fake: FakeControl
) -> None:
    order = shopper.new_order()
    key = new_key()
    declined = shopper.confirm(order["order_id"], key, "pm_card_chargeDeclined")
    replayed = shopper.confirm(order["order_id"], key, "pm_card_chargeDeclined")

    assert declined.status_code == 402, declined.text
    assert declined.headers["content-type"] == "application/problem+json"
    assert declined.json()["code"] == "generic_decline"
    assert replayed.status_code == 402
    assert replayed.content == declined.content
    assert replayed.headers["idempotent-replayed"] == "true"
    view = shopper.order(order["order_id"])
    assert view["status"] == "open"
    assert view["payment"]["status"] == "FAILED"

    paid = shopper.confirm(order["order_id"], new_key())
    assert paid.status_code == 200, paid.text
    assert shopper.confirm(order["order_id"], new_key()).status_code == 200
    ledger = fake.order(order["order_id"])
    assert ledger["charges"] == 1
    assert ledger["declines"] == 1


def test_same_key_with_a_changed_body_is_422(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    key = new_key()
    assert shopper.confirm(order["order_id"], key).status_code == 200
    changed = shopper.confirm(order["order_id"], key, "pm_card_mastercard")

    assert changed.status_code == 422
    assert changed.headers["content-type"] == "application/problem+json"
    assert changed.json()["type"].endswith("idempotency-key-reused")
    other = shopper.new_order()
    assert shopper.confirm(other["order_id"], key).status_code == 422  # other path, same key
    assert fake.order(order["order_id"])["charges"] == 1
    assert fake.order(other["order_id"])["charges"] == 0


def test_missing_or_bad_key_is_400_and_charges_nothing(shopper: Shopper, fake: FakeControl) -> None:
    order = shopper.new_order()
    missing = shopper.confirm(order["order_id"], None)
    bad = shopper.confirm(order["order_id"], "x" * 256)

    assert missing.status_code == bad.status_code == 400
    assert missing.json()["type"].endswith("idempotency-key-missing")
    assert bad.json()["type"].endswith("idempotency-key-invalid")
    assert "traceback" not in missing.text.lower()
    assert fake.order(order["order_id"])["charges"] == 0


def test_users_are_isolated(checkout_server: ServerProcess, fake: FakeControl) -> None:
    alice = Shopper(checkout_server.url, "alice-iso-" + new_key()[-6:])
    bob = Shopper(checkout_server.url, "bob-iso-" + new_key()[-6:])
    try:
        alices = alice.new_order()
        bobs = bob.new_order()
        key = new_key()
        # bob cannot see or pay alice's order, whatever key he uses
        assert bob.http.get(f"/api/orders/{alices['order_id']}").status_code == 404
        stolen = bob.confirm(alices["order_id"], key)
        assert stolen.status_code == 404
        assert stolen.headers["content-type"] == "application/problem+json"
        # the same key string is a different key for each user
        assert alice.confirm(alices["order_id"], key).status_code == 200
        bob_pays = bob.confirm(bobs["order_id"], key)
        assert bob_pays.status_code == 200
        assert "idempotent-replayed" not in bob_pays.headers
        assert fake.order(alices["order_id"])["charges"] == 1
        assert fake.order(bobs["order_id"])["charges"] == 1
        with httpx.Client(base_url=checkout_server.url) as anonymous:
            anonymous.cookies.set("nodouble_session", "forged")
            refused = anonymous.post(
                f"/api/orders/{alices['order_id']}/confirm", headers={"Idempotency-Key": key}
            )
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
    finally:
        alice.close()
        bob.close()
