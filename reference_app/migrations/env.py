"""Alembic environment: run with the connection the app hands over (see migrate.py)."""

from __future__ import annotations

from alembic import context

from reference_app.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - migrations only run through migrate.py
    raise RuntimeError("run migrations through reference_app.migrate.upgrade(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
