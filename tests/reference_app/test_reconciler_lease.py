"""The reconciler reads the provider outside any lock; a request may take the payment
meanwhile. A stale "declined" read must then leave the payment to that request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from _checkout_support import DATABASES
from sqlalchemy.orm import Session, sessionmaker

from reference_app import db, migrate
from reference_app.models import IdempotencyKey, Order, Payment, utcnow
from reference_app.provider import ChargeResult
from reference_app.reconciler import reconcile


class _PayArrivesDuringTheRead:
    """A provider whose search, while it is answering, lets a Pay with a new card lease
    the payment (as the checkout's claim does), then reports the old attempt's failure."""

    def __init__(self, sessions: sessionmaker[Session], payment_id: str) -> None:
        self.sessions, self.payment_id, self.reads = sessions, payment_id, 0

    def find_by_payment_id(self, payment_id: str) -> ChargeResult:
        self.reads += 1
        now = utcnow()
        with self.sessions.begin() as session:
            session.add(
                IdempotencyKey(
                    user_id="u",
                    idempotency_key=f"k-{payment_id}",
                    request_method="POST",
                    request_path="/confirm",
                    fingerprint="f" * 64,
                    recovery_point="payment_created",
                    locked_until=now + timedelta(seconds=30),
                    lease_token="t" * 32,
                    payment_id=payment_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
        return ChargeResult("declined", "pi_old", "payment_intent_authentication_failure")


@pytest.mark.parametrize("database", DATABASES)
def test_a_stale_declined_read_leaves_a_leased_payment_alone(
    database: str, own_database_url: Callable[[str], str]
) -> None:
    url = own_database_url(database)  # no other test's reconciler sees this payment
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    now = utcnow()
    suffix = now.strftime("%H%M%S%f")
    order_id, payment_id = f"ord_rl_{suffix}", f"pay_rl_{suffix}"
    with sessions.begin() as session:
        session.add(Order(id=order_id, user_id="u", line_items=[], amount=1500, currency="usd",
                          status="open", created_at=now, updated_at=now))  # fmt: skip
        session.flush()
        session.add(
            Payment(
                id=payment_id,
                order_id=order_id,
                active_order_id=order_id,
                status="PENDING",
                amount=1500,
                currency="usd",
                payment_method="pm_card_threeDSecure2Required",
                provider_idempotency_key=f"nodouble-{payment_id}",
                provider_payment_intent="pi_old",
                created_at=now - timedelta(hours=1),
                updated_at=now,
            )
        )
    provider = _PayArrivesDuringTheRead(sessions, payment_id)
    reconcile(sessions, provider)  # type: ignore[arg-type]
    with sessions.begin() as session:
        status = session.get_one(Payment, payment_id).status
    engine.dispose()
    assert provider.reads == 1
    assert status == "PENDING"
