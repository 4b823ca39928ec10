"""Hosted Checkout Sessions: at most one payable session per order.

Revision ID: 0004_hosted_sessions
Revises: 0003_manual_capture
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reference_app.models import UtcDateTime

revision = "0004_hosted_sessions"
down_revision = "0003_manual_capture"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosted_sessions",
        sa.Column("id", sa.String(40), nullable=False, comment="hs_<random>"),
        sa.Column("order_id", sa.String(40), nullable=False, comment="the order it pays"),
        sa.Column(
            "attempt",
            sa.Integer(),
            nullable=False,
            comment="1, 2, ... per order; part of the provider idempotency key",
        ),
        sa.Column(
            "open_order_id",
            sa.String(40),
            nullable=True,
            comment="= order_id while creating or open, NULL once complete or expired: "
            "UNIQUE makes a second payable session for one order impossible",
        ),
        sa.Column(
            "status",
            sa.String(10),
            nullable=False,
            comment="creating (provider not answered yet), open, complete, expired",
        ),
        sa.Column(
            "provider_session_id",
            sa.String(255),
            nullable=True,
            comment="cs_... once the provider answered",
        ),
        sa.Column("url", sa.Text(), nullable=True, comment="the provider's page to pay on"),
        sa.Column(
            "payment_id",
            sa.String(40),
            nullable=True,
            comment="the payment its fulfilment made",
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False, comment="when it was created"),
        sa.Column("updated_at", UtcDateTime(), nullable=False, comment="last status change"),
        sa.CheckConstraint(
            "status IN ('creating', 'open', 'complete', 'expired')",
            name=op.f("ck_hosted_sessions_hosted_status"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_hosted_sessions_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_hosted_sessions_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosted_sessions")),
        sa.UniqueConstraint(
            "order_id", "attempt", name=op.f("uq_hosted_sessions_order_id_attempt")
        ),
        sa.UniqueConstraint("open_order_id", name=op.f("uq_hosted_sessions_open_order_id")),
        sa.UniqueConstraint(
            "provider_session_id", name=op.f("uq_hosted_sessions_provider_session_id")
        ),
    )
    op.create_index(op.f("ix_hosted_sessions_order_id"), "hosted_sessions", ["order_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_hosted_sessions_order_id"), table_name="hosted_sessions")
    op.drop_table("hosted_sessions")
