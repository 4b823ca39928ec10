"""Manual capture: how each payment takes the money, and how far its capture got.

Revision ID: 0003_manual_capture
Revises: 0002_threeds
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_manual_capture"
down_revision = "0002_threeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column(
                "capture_method",
                sa.String(12),
                nullable=False,
                server_default="automatic",
                comment="automatic (confirm takes the money) or manual (confirm authorises only)",
            )
        )
        batch.add_column(
            sa.Column(
                "capture_status",
                sa.String(12),
                nullable=True,
                comment="manual capture only: authorized (held, PENDING), capturing (capture "
                "asked, answer not known yet), captured (CONFIRMED); NULL before the provider "
                "answered",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("capture_status")
        batch.drop_column("capture_method")
