"""A confirm with no guard at all, for the overhead benchmark only.

``POST /_bench/orders/{order_id}/confirm-unguarded`` exists only when
``NODOUBLE_BENCH_UNGUARDED=1`` (off by default, never in the OpenAPI schema). It does what a
checkout with no protection against double charges does: read the order, charge it through
the same provider client as the real confirm, then record the payment and mark the order
paid in one transaction. No idempotency key, no key table, no claim, no row lock, no hosted
session check: a repeat charges again. ``harness/bench/overhead.py`` times it beside the
real confirm, in the same process, to show what the guard costs.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from reference_app import db
from reference_app.checkout import charge_request, new_payment, outcome_for, problem
from reference_app.models import Order, utcnow
from reference_app.provider import ProviderClient
from reference_app.schemas import ConfirmOutcome

PATH = "/_bench/orders/{order_id}/confirm-unguarded"
log = logging.getLogger("reference_app")


def warn() -> None:
    log.warning("NODOUBLE_BENCH_UNGUARDED is on: POST %s charges without any guard", PATH)


def confirm(
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    user: str,
    order_id: str,
    payment_method: str,
) -> ConfirmOutcome:
    """Charge, then mark paid; an answer the provider did not give is a 502 (nothing kept)."""

    def read(session: Session) -> Order | None:
        query = sa.select(Order).where(Order.id == order_id, Order.user_id == user)
        return session.execute(query).scalar_one_or_none()

    order = db.transaction(sessions, read, read_only=True)
    if order is None:
        return problem(404, "not-found", f"No order {order_id} for you.")
    now = utcnow()
    payment = new_payment(order, payment_method, now)
    result = provider.create_and_confirm(charge_request(payment))
    if result.outcome not in ("succeeded", "declined"):
        return problem(502, "provider-error", f"The provider answered {result.outcome}.")
    payment.provider_payment_intent = result.intent_id
    if result.outcome == "declined":
        payment.status, payment.active_order_id = "FAILED", None
        payment.failure_code = result.code or "payment_failed"
    else:
        payment.status = "CONFIRMED"

    def record(session: Session) -> None:
        session.add(payment)
        if payment.status == "CONFIRMED":
            paid = (
                sa.update(Order).where(Order.id == order.id).values(status="paid", updated_at=now)
            )
            session.execute(paid)

    db.transaction(sessions, record)
    return outcome_for(order, payment)
