"""Initial schema: orders, payments, idempotency_keys, webhook_events.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reference_app.models import UtcDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column(
            "id",
            sa.String(40),
            nullable=False,
            comment="business key, ord_<random>; shown to users",
        ),
        sa.Column(
            "user_id", sa.String(64), nullable=False, comment="owner; every lookup filters on it"
        ),
        sa.Column(
            "line_items",
            sa.JSON(),
            nullable=False,
            comment="[{sku, name, quantity, unit_amount, amount}] priced from the catalog",
        ),
        sa.Column(
            "amount",
            sa.Integer(),
            nullable=False,
            comment="total in the currency's minor unit, computed on the server",
        ),
        sa.Column("currency", sa.String(3), nullable=False, comment="ISO 4217, lower case"),
        sa.Column(
            "status",
            sa.String(8),
            nullable=False,
            comment="open until a payment is CONFIRMED, then paid (final)",
        ),
        sa.Column(
            "confirm_key",
            sa.String(64),
            nullable=True,
            comment="server-issued idempotency key of the confirm page; rotated after a failure",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False, comment="when it was created"),
        sa.Column("updated_at", UtcDateTime(), nullable=False, comment="last status change"),
        sa.CheckConstraint("status IN ('open', 'paid')", name=op.f("ck_orders_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_orders_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_user_id"), "orders", ["user_id"])

    op.create_table(
        "payments",
        sa.Column("id", sa.String(40), nullable=False, comment="pay_<random>"),
        sa.Column("order_id", sa.String(40), nullable=False, comment="the order it pays"),
        sa.Column(
            "active_order_id",
            sa.String(40),
            nullable=True,
            comment="= order_id while PENDING or CONFIRMED, NULL when FAILED: "
            "UNIQUE makes a second live payment for one order impossible",
        ),
        sa.Column("status", sa.String(9), nullable=False, comment="PENDING, CONFIRMED or FAILED"),
        sa.Column(
            "amount", sa.Integer(), nullable=False, comment="copied from the order when created"
        ),
        sa.Column("currency", sa.String(3), nullable=False, comment="copied from the order"),
        sa.Column(
            "payment_method",
            sa.String(128),
            nullable=False,
            comment="provider payment method id, e.g. pm_card_visa",
        ),
        sa.Column(
            "provider_idempotency_key",
            sa.String(80),
            nullable=False,
            comment="nodouble-pay-<id>: stored before the provider is called, "
            "reused on every retry",
        ),
        sa.Column(
            "provider_payment_intent",
            sa.String(255),
            nullable=True,
            comment="PaymentIntent id once the provider answered",
        ),
        sa.Column(
            "failure_code",
            sa.String(64),
            nullable=True,
            comment="provider code (card_declined, ...) when FAILED",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False, comment="when it was created"),
        sa.Column("updated_at", UtcDateTime(), nullable=False, comment="last status change"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'CONFIRMED', 'FAILED')", name=op.f("ck_payments_status")
        ),
        sa.CheckConstraint(
            "(status = 'FAILED' AND active_order_id IS NULL) OR "
            "(status IN ('PENDING', 'CONFIRMED') AND active_order_id IS NOT NULL "
            "AND active_order_id = order_id)",
            name=op.f("ck_payments_active_order"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payments_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("active_order_id", name=op.f("uq_payments_active_order_id")),
        sa.UniqueConstraint(
            "provider_idempotency_key", name=op.f("uq_payments_provider_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_payments_order_id"), "payments", ["order_id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False, comment="surrogate key"),
        sa.Column(
            "user_id", sa.String(64), nullable=False, comment="scope: keys never cross users"
        ),
        sa.Column(
            "idempotency_key",
            sa.String(255),
            nullable=False,
            comment="the client's Idempotency-Key header, verbatim",
        ),
        sa.Column("request_method", sa.String(10), nullable=False, comment="HTTP method"),
        sa.Column("request_path", sa.String(255), nullable=False, comment="HTTP path"),
        sa.Column(
            "fingerprint",
            sa.String(64),
            nullable=False,
            comment="sha256 of method, path and canonical JSON body",
        ),
        sa.Column(
            "recovery_point",
            sa.String(16),
            nullable=False,
            comment="started, payment_created, provider_called or finished",
        ),
        sa.Column(
            "locked_until",
            UtcDateTime(),
            nullable=True,
            comment="lease: a request is working on this key until then",
        ),
        sa.Column(
            "lease_token",
            sa.String(32),
            nullable=True,
            comment="random id of the request holding the lease",
        ),
        sa.Column(
            "response_status",
            sa.Integer(),
            nullable=True,
            comment="stored HTTP status once finished",
        ),
        sa.Column(
            "response_headers",
            sa.Text(),
            nullable=True,
            comment="JSON object of the headers that matter (content-type)",
        ),
        sa.Column(
            "response_body",
            sa.Text(),
            nullable=True,
            comment="JSON text of the stored response body",
        ),
        sa.Column("order_id", sa.String(40), nullable=True, comment="the order being confirmed"),
        sa.Column("payment_id", sa.String(40), nullable=True, comment="its payment, once made"),
        sa.Column("created_at", UtcDateTime(), nullable=False, comment="first seen"),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False, comment="last request with it"),
        sa.Column(
            "expires_at",
            UtcDateTime(),
            nullable=False,
            comment="after this a finished key may be pruned and reused",
        ),
        sa.CheckConstraint(
            "recovery_point IN ('started', 'payment_created', 'provider_called', 'finished')",
            name=op.f("ck_idempotency_keys_recovery_point"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_idempotency_keys_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_idempotency_keys_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_idempotency_keys_user_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_idempotency_keys_payment_id"), "idempotency_keys", ["payment_id"])

    op.create_table(
        "webhook_events",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False, comment="surrogate key"),
        sa.Column(
            "event_id",
            sa.String(255),
            nullable=False,
            comment="provider event id, evt_...; UNIQUE dedupes",
        ),
        sa.Column(
            "event_type", sa.String(64), nullable=False, comment="e.g. payment_intent.succeeded"
        ),
        sa.Column("received_at", UtcDateTime(), nullable=False, comment="first delivery"),
        sa.Column(
            "processed_at",
            UtcDateTime(),
            nullable=True,
            comment="when it was applied (same transaction as the insert)",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_webhook_events_event_id")),
    )


def downgrade() -> None:
    op.drop_table("webhook_events")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_payments_order_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_orders_user_id"), table_name="orders")
    op.drop_table("orders")
