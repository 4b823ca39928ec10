"""``reference_app.db``: the insert that returns a new key row, and pooled connections that
the server dropped while they sat idle (no pre-ping: ``transaction`` reruns the work)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _checkout_support import DATABASES
from sqlalchemy.orm import Session

from reference_app import db, migrate
from reference_app.models import IdempotencyKey, Order, Payment, utcnow


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


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_insert_new_sends_a_none_as_null_not_as_the_column_default(
    database: str, own_database_url: Callable[[str], str]
) -> None:
    """A prebuilt INSERT executed with a row leaves out the keys whose value is None unless
    told otherwise, and the column's default would fill them in: a payment given
    ``capture_method=None`` would be stored as ``automatic``. It is told, so NOT NULL
    refuses the row, as it did when the values were part of the statement. (MariaDB's
    branch inserts through the table, which always sent NULL.)"""
    engine = db.make_engine(own_database_url(database))
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    now = utcnow()
    order = Order(id="o-null", user_id="u-db", line_items=[], amount=1, currency="usd",
                  status="open", created_at=now, updated_at=now)  # fmt: skip
    payment = {
        "id": "p-null", "order_id": "o-null", "active_order_id": None, "status": "FAILED",
        "amount": 1, "currency": "usd", "payment_method": "pm_card_visa",
        "provider_idempotency_key": "k-null", "created_at": now, "updated_at": now,
        "capture_method": None,
    }  # fmt: skip
    try:
        db.transaction(sessions, lambda s: s.add(order))
        with pytest.raises(sa.exc.IntegrityError):
            db.transaction(sessions, lambda s: db.insert_new(s, Payment, payment))
    finally:
        engine.dispose()


def test_a_write_transaction_waits_for_the_writer_lock_no_longer_than_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writers of one process take turns on a lock before ``BEGIN IMMEDIATE``. A
    writer that never gets its turn (here: nested inside another write transaction on the
    same thread, a mistake) must fail like SQLite's own busy wait, not hang."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'writers.sqlite3'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    sessions = db.make_sessionmaker(engine)
    failures: list[BaseException] = []

    def outer(session: Session) -> None:
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        try:
            db.transaction(sessions, lambda s: s.execute(sa.text("INSERT INTO t VALUES (2)")))
        except sa.exc.OperationalError as exc:
            failures.append(exc)

    worker = threading.Thread(target=db.transaction, args=(sessions, outer), daemon=True)
    worker.start()
    worker.join(60)
    engine.dispose()
    assert not worker.is_alive(), "the nested writer is still waiting"
    assert len(failures) == 1 and "locked" in str(failures[0])
