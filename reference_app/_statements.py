"""The confirm's hot-path statements, built once at import, with named bind parameters.

Building ``sa.select(Order).where(Order.id == order_id)`` on every call costs about as much
Python as sending it: the expression is coerced, then SQLAlchemy walks it to compute the
key of its compiled-statement cache. A statement built once computes that key once (it is
memoised on the statement object); each call only binds its values. Timed in-process on
PostgreSQL: 0.23 ms for a locking read built per call, 0.12 ms for the same one prebuilt.

Same SQL, same locks as the statements they replace; callers pass the values by name.
"""

from __future__ import annotations

import sqlalchemy as sa

from reference_app.models import HostedSession, IdempotencyKey, Order, Payment

KEY_ANSWER = sa.select(
    IdempotencyKey.fingerprint,
    IdempotencyKey.recovery_point,
    IdempotencyKey.expires_at,
    IdempotencyKey.response_status,
    IdempotencyKey.response_headers,
    IdempotencyKey.response_body,
).where(
    IdempotencyKey.user_id == sa.bindparam("user"),
    IdempotencyKey.idempotency_key == sa.bindparam("key"),
)
"""The replay read (no lock): what a finished (user, key) row answers. Params: user, key."""

OPEN_HOSTED_SESSION: sa.Select[HostedSession] = (
    sa.select(HostedSession)
    .join(Order, Order.id == HostedSession.order_id)
    .where(
        HostedSession.open_order_id == sa.bindparam("order_id"),
        Order.user_id == sa.bindparam("user"),
    )
)
"""The user's order's hosted session that may still be paid. Params: order_id, user."""

ANY_OPEN_HOSTED_SESSION: sa.Select[bool] = sa.select(OPEN_HOSTED_SESSION.exists())
"""Whether ``OPEN_HOSTED_SESSION`` finds a row (the replay read's second statement)."""

HOSTED_OPEN_UNDER_LOCK = sa.select(HostedSession.id).where(
    HostedSession.open_order_id == sa.bindparam("order_id")
)
"""The claim's hosted-session check, under the order's row lock. Params: order_id."""

LOCK_KEY: sa.Select[IdempotencyKey] = (
    sa.select(IdempotencyKey)
    .where(
        IdempotencyKey.user_id == sa.bindparam("user"),
        IdempotencyKey.idempotency_key == sa.bindparam("key"),
    )
    .with_for_update()
)
"""Lock the (user, key) row. Params: user, key."""

LOCK_KEY_BY_ID: sa.Select[IdempotencyKey] = (
    sa.select(IdempotencyKey).where(IdempotencyKey.id == sa.bindparam("id")).with_for_update()
)
"""Lock a key row by its id (the finish). Params: id."""

LOCK_ORDER: sa.Select[Order] = (
    sa.select(Order).where(Order.id == sa.bindparam("order_id")).with_for_update()
)
"""Lock an order. Params: order_id."""

LOCK_USERS_ORDER: sa.Select[Order] = (
    sa.select(Order)
    .where(Order.id == sa.bindparam("order_id"), Order.user_id == sa.bindparam("user"))
    .with_for_update()
)
"""Lock an order if it is the user's. Params: order_id, user."""

LOCK_PAYMENT: sa.Select[Payment] = (
    sa.select(Payment)
    .where(Payment.id == sa.bindparam("payment_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
"""Lock a payment, its row read fresh even if the session holds it. Params: payment_id."""

LOCK_ACTIVE_PAYMENT: sa.Select[Payment] = (
    sa.select(Payment).where(Payment.active_order_id == sa.bindparam("order_id")).with_for_update()
)
"""Lock the order's PENDING or CONFIRMED payment, if any. Params: order_id."""
