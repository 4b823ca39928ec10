"""Replays send the stored answer verbatim: bodies stored as the exact JSON text sent.

Before this revision a finished key's body was stored with ``json.dumps``' default spacing
and re-rendered on every replay. Now the replay sends the stored text as it is, so the rows
stored before are rewritten once in the compact form the API sends (what the client got
the first time); their content does not change.

Revision ID: 0005_replay_verbatim
Revises: 0004_hosted_sessions
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005_replay_verbatim"
down_revision = "0004_hosted_sessions"
branch_labels = None
depends_on = None

OLD_COMMENT = "JSON text of the stored response body"
NEW_COMMENT = "the response body exactly as first sent (compact JSON text); replays send it as is"
BATCH = 500

_keys = sa.table(
    "idempotency_keys",
    sa.column("id", sa.Integer),
    sa.column("response_body", sa.Text),
)


def compact(text: str) -> str:
    """``text`` in the form the API sends (reference_app.checkout.render)."""
    return json.dumps(json.loads(text), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _comment(comment: str, existing: str) -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column(
            "response_body",
            existing_type=sa.Text(),
            existing_nullable=True,
            comment=comment,
            existing_comment=existing,
        )


def upgrade() -> None:
    _comment(NEW_COMMENT, OLD_COMMENT)
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_keys.c.id, _keys.c.response_body)
            .where(_keys.c.id > last, _keys.c.response_body.is_not(None))
            .order_by(_keys.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row_id, body in rows:
            rendered = compact(body)
            if rendered != body:
                connection.execute(
                    _keys.update().where(_keys.c.id == row_id).values(response_body=rendered)
                )
        last = rows[-1][0]


def downgrade() -> None:
    _comment(OLD_COMMENT, NEW_COMMENT)  # compact JSON is JSON: older code reads it as it is
