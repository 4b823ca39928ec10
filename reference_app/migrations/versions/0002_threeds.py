"""3-D Secure: payments remember their return page and the challenge they await.

Revision ID: 0002_threeds
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_threeds"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column(
            "return_url",
            sa.String(512),
            nullable=True,
            comment="our 3-D Secure return page, sent to the provider with every (re)try of "
            "the charge; stored before the first call like the provider key",
        ),
    )
    op.add_column(
        "payments",
        sa.Column(
            "action_url",
            sa.String(512),
            nullable=True,
            comment="while PENDING: the provider page where the customer must authenticate "
            "(3-D Secure); the payment awaits the customer, not the provider",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("action_url")
        batch.drop_column("return_url")
