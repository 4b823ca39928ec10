"""``reference_app.db``: the insert that returns a new key row, and pooled connections that
the server dropped while they sat idle (no pre-ping: ``transaction`` reruns the work)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from _checkout_support import DATABASES
from sqlalchemy.orm import Session

from reference_app import db, migrate
from reference_app.models import IdempotencyKey, utcnow


def _key_row(key: str, fingerprint: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "user_id": "u-db", "idempotency_key": key, "request_method": "POST",
        "request_path": "/x", "fingerprint": fingerprint, "recovery_point": "started",
        "locked_until": now + timedelta(seconds=30), "lease_token": "t" * 32,
        "created_at": now, "last_seen_at": now, "expires_at": now + timedelta(days=1),
    }  # fmt: skip


@pytest.mark.parametrize("database", DATABASES)
def test_insert_new_returns_the_new_row_and_never_an_existing_one(
    database: str, own_database_url: Callable[[str], str]
) -> None:
    engine = db.make_engine(own_database_url(database))
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    key = "k-" + secrets.token_hex(6)
    try:
        first = db.transaction(
            sessions, lambda s: db.insert_new(s, IdempotencyKey, _key_row(key, "first"))
        )
        again = db.transaction(
            sessions, lambda s: db.insert_new(s, IdempotencyKey, _key_row(key, "second"))
        )

        def stored(session: Session) -> list[str]:
            query = sa.select(IdempotencyKey.fingerprint).where(
                IdempotencyKey.idempotency_key == key
            )
            return list(session.scalars(query))

        rows = db.transaction(sessions, stored)
    finally:
        engine.dispose()
    assert rows == ["first"]  # the second insert left the row as it was
    assert again is None
    if engine.dialect.name in {"mysql", "mariadb"}:
        assert first is None  # its driver cannot tell a new row: the caller reads it
    else:
        assert first is not None
        assert (first.idempotency_key, first.fingerprint) == (key, "first")
        assert first.id is not None


SERVER_DATABASES = [p for p in DATABASES if p.id != "sqlite"]


@pytest.mark.parametrize("database", SERVER_DATABASES)
def test_pooled_connections_the_server_dropped_are_replaced_by_a_rerun(
    database: str, own_database_url: Callable[[str], str]
) -> None:
    """Every idle connection of the pool is killed by the server; the next transactions
    fail on their first statement, are rerun on new connections and succeed."""
    url = own_database_url(database)
    engine = db.make_engine(url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    sessions = db.make_sessionmaker(engine)

    def one(session: Session) -> int:
        return int(session.execute(sa.text("SELECT 1")).scalar_one())

    try:
        with engine.connect() as a, engine.connect() as b:  # two connections into the pool
            ids = {_server_id(a), _server_id(b)}
        with admin.connect() as conn:
            for server_id in ids:
                kill = "SELECT pg_terminate_backend(:id)" if database == "postgres" else "KILL :id"
                conn.execute(sa.text(kill), {"id": server_id})
        assert len(ids) == 2
        assert db.transaction(sessions, one) == 1
        assert db.transaction(sessions, one, read_only=True) == 1
        assert db.transaction(sessions, one) == 1
    finally:
        engine.dispose()
        admin.dispose()


def _server_id(connection: sa.Connection) -> int:
    """The server's id of this connection (its backend pid, its MariaDB thread id)."""
    query = (
        "SELECT pg_backend_pid()"
        if connection.dialect.name == "postgresql"
        else "SELECT CONNECTION_ID()"
    )
    return int(connection.execute(sa.text(query)).scalar_one())
