"""The checkout's tables as a typed SQLAlchemy 2 ORM; every column says what it is for.

The one constraint that matters most: ``payments.active_order_id`` is UNIQUE and equals
``order_id`` while a payment is PENDING or CONFIRMED (NULL once FAILED), so the database
itself refuses a second live payment for an order, on SQLite, PostgreSQL and MariaDB alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A UTC instant: stored naive (microseconds kept on MariaDB too), read back aware."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class Order(Base):
    """What a customer buys; amounts come from the catalog, never from the client."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'paid')", name="status"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[str] = mapped_column(
        sa.String(40), primary_key=True, comment="business key, ord_<random>; shown to users"
    )
    user_id: Mapped[str] = mapped_column(
        sa.String(64), index=True, comment="owner; every lookup filters on it"
    )
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(
        sa.JSON, comment="[{sku, name, quantity, unit_amount, amount}] priced from the catalog"
    )
    amount: Mapped[int] = mapped_column(
        sa.Integer, comment="total in the currency's minor unit, computed on the server"
    )
    currency: Mapped[str] = mapped_column(sa.String(3), comment="ISO 4217, lower case")
    status: Mapped[str] = mapped_column(
        sa.String(8), comment="open until a payment is CONFIRMED, then paid (final)"
    )
    confirm_key: Mapped[str | None] = mapped_column(
        sa.String(64),
        comment="server-issued idempotency key of the confirm page; rotated after a failure",
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="when it was created")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="last status change")


class Payment(Base):
    """One attempt to charge an order: PENDING -> CONFIRMED | FAILED, nothing else."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("status IN ('PENDING', 'CONFIRMED', 'FAILED')", name="status"),
        sa.CheckConstraint(
            "(status = 'FAILED' AND active_order_id IS NULL) OR "
            "(status IN ('PENDING', 'CONFIRMED') AND active_order_id IS NOT NULL "
            "AND active_order_id = order_id)",
            name="active_order",
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, comment="pay_<random>")
    order_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("orders.id"), index=True, comment="the order it pays"
    )
    active_order_id: Mapped[str | None] = mapped_column(
        sa.String(40),
        unique=True,
        comment="= order_id while PENDING or CONFIRMED, NULL when FAILED: "
        "UNIQUE makes a second live payment for one order impossible",
    )
    status: Mapped[str] = mapped_column(sa.String(9), comment="PENDING, CONFIRMED or FAILED")
    amount: Mapped[int] = mapped_column(sa.Integer, comment="copied from the order when created")
    currency: Mapped[str] = mapped_column(sa.String(3), comment="copied from the order")
    payment_method: Mapped[str] = mapped_column(
        sa.String(128), comment="provider payment method id, e.g. pm_card_visa"
    )
    provider_idempotency_key: Mapped[str] = mapped_column(
        sa.String(80),
        unique=True,
        comment="nodouble-pay-<id>: stored before the provider is called, reused on every retry",
    )
    provider_payment_intent: Mapped[str | None] = mapped_column(
        sa.String(255), comment="PaymentIntent id once the provider answered"
    )
    failure_code: Mapped[str | None] = mapped_column(
        sa.String(64), comment="provider code (card_declined, ...) when FAILED"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="when it was created")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="last status change")
    return_url: Mapped[str | None] = mapped_column(
        sa.String(512),
        comment="our 3-D Secure return page, sent to the provider with every (re)try of the "
        "charge; stored before the first call like the provider key",
    )
    action_url: Mapped[str | None] = mapped_column(
        sa.String(512),
        comment="while PENDING: the provider page where the customer must authenticate "
        "(3-D Secure); the payment awaits the customer, not the provider",
    )
    capture_method: Mapped[str] = mapped_column(
        sa.String(12),
        default="automatic",
        server_default="automatic",
        comment="automatic (confirm takes the money) or manual (confirm authorises only)",
    )
    capture_status: Mapped[str | None] = mapped_column(
        sa.String(12),
        comment="manual capture only: authorized (held, PENDING), capturing (capture asked, "
        "answer not known yet), captured (CONFIRMED); NULL before the provider answered",
    )


class IdempotencyKey(Base):
    """One client request identified by (user, key): how far it got and what it answered."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "idempotency_key"),
        sa.CheckConstraint(
            "recovery_point IN ('started', 'payment_created', 'provider_called', 'finished')",
            name="recovery_point",
        ),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
        comment="surrogate key",
    )
    user_id: Mapped[str] = mapped_column(sa.String(64), comment="scope: keys never cross users")
    idempotency_key: Mapped[str] = mapped_column(
        sa.String(255), comment="the client's Idempotency-Key header, verbatim"
    )
    request_method: Mapped[str] = mapped_column(sa.String(10), comment="HTTP method")
    request_path: Mapped[str] = mapped_column(sa.String(255), comment="HTTP path")
    fingerprint: Mapped[str] = mapped_column(
        sa.String(64), comment="sha256 of method, path and canonical JSON body"
    )
    recovery_point: Mapped[str] = mapped_column(
        sa.String(16), comment="started, payment_created, provider_called or finished"
    )
    locked_until: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="lease: a request is working on this key until then"
    )
    lease_token: Mapped[str | None] = mapped_column(
        sa.String(32), comment="random id of the request holding the lease"
    )
    response_status: Mapped[int | None] = mapped_column(
        sa.Integer, comment="stored HTTP status once finished"
    )
    response_headers: Mapped[str | None] = mapped_column(
        sa.Text, comment="JSON object of the headers that matter (content-type)"
    )
    response_body: Mapped[str | None] = mapped_column(
        sa.Text,
        comment="the response body exactly as first sent (compact JSON text); "
        "replays send it as is",
    )
    order_id: Mapped[str | None] = mapped_column(
        sa.String(40), sa.ForeignKey("orders.id"), comment="the order being confirmed"
    )
    payment_id: Mapped[str | None] = mapped_column(
        sa.String(40), sa.ForeignKey("payments.id"), index=True, comment="its payment, once made"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="first seen")
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="last request with it")
    expires_at: Mapped[datetime] = mapped_column(
        UtcDateTime, comment="after this a finished key may be pruned and reused"
    )


class WebhookEvent(Base):
    """A provider event seen once: the unique id turns duplicates into no-ops."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
        comment="surrogate key",
    )
    event_id: Mapped[str] = mapped_column(
        sa.String(255), unique=True, comment="provider event id, evt_...; UNIQUE dedupes"
    )
    event_type: Mapped[str] = mapped_column(sa.String(64), comment="e.g. payment_intent.succeeded")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="first delivery")
    processed_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime, comment="when it was applied (same transaction as the insert)"
    )


class HostedSession(Base):
    """One hosted Checkout Session made for an order: the customer pays on the provider's page.

    ``open_order_id`` is UNIQUE and equals ``order_id`` while the session is being made or is
    open (NULL once complete or expired), so an order has at most one session that can still
    be paid: a second click, a second tab or Back-and-click reuses it.
    """

    __tablename__ = "hosted_sessions"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "attempt"),
        sa.CheckConstraint(
            "status IN ('creating', 'open', 'complete', 'expired')", name="hosted_status"
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, comment="hs_<random>")
    order_id: Mapped[str] = mapped_column(
        sa.String(40), sa.ForeignKey("orders.id"), index=True, comment="the order it pays"
    )
    attempt: Mapped[int] = mapped_column(
        sa.Integer, comment="1, 2, ... per order; part of the provider idempotency key"
    )
    open_order_id: Mapped[str | None] = mapped_column(
        sa.String(40),
        unique=True,
        comment="= order_id while creating or open, NULL once complete or expired: "
        "UNIQUE makes a second payable session for one order impossible",
    )
    status: Mapped[str] = mapped_column(
        sa.String(10), comment="creating (provider not answered yet), open, complete, expired"
    )
    provider_session_id: Mapped[str | None] = mapped_column(
        sa.String(255), unique=True, comment="cs_... once the provider answered"
    )
    url: Mapped[str | None] = mapped_column(sa.Text, comment="the provider's page to pay on")
    payment_id: Mapped[str | None] = mapped_column(
        sa.String(40), sa.ForeignKey("payments.id"), comment="the payment its fulfilment made"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="when it was created")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, comment="last status change")
