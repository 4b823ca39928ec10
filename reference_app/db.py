"""Engines, transactions and the dialect-specific bits, in one place.

- SQLite: the driver's own transaction handling is switched off and every transaction
  starts with ``BEGIN IMMEDIATE``, which takes the database's write lock up front, so two
  transactions never interleave; ``busy_timeout`` makes the others wait instead of failing.
  Within one process the writers also wait for a lock of their own (``_WRITERS``; not
  first-come first-served): SQLite's busy handler polls, sleeping up to 100 ms between
  tries, so twenty confirms at once spent most of their time asleep while the database
  was free, whereas a released lock wakes a waiter at once. ``busy_timeout`` still covers
  other processes on the same file, and bounds the wait for the lock too.
  A read-only transaction (``transaction(..., read_only=True)``) starts with a plain
  ``BEGIN`` instead: a snapshot of the last commit (WAL), no write lock, never waiting on
  a writer. On PostgreSQL a read-only transaction runs in autocommit (no BEGIN, no COMMIT).
- PostgreSQL: READ COMMITTED, ``SELECT ... FOR UPDATE`` row locks,
  ``INSERT ... ON CONFLICT DO NOTHING``.
- MariaDB: READ COMMITTED (so a locking read and the plain reads after it see the same,
  latest committed rows), ``SELECT ... FOR UPDATE``,
  ``INSERT ... ON DUPLICATE KEY UPDATE id = id``; deadlocks (1213) and lock wait timeouts
  (1205) are retried by ``transaction``.

PostgreSQL and MariaDB connections are pooled without a pre-ping (which cost a round trip
each time one was taken): a connection the server dropped fails on its first statement,
and ``transaction`` reruns the work on a new one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
M = TypeVar("M")
log = logging.getLogger("reference_app.db")

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "nodouble_read_only"
"""Connection execution option of a transaction that only reads (see ``transaction``)."""
RETRY_ATTEMPTS = 8
POOL_RECYCLE_SECONDS = 1800
"""A pooled connection older than this is replaced when taken (no round trip): well under
MariaDB's default ``wait_timeout`` (8 hours), after which the server drops it."""
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
"""SQLite engine → the lock its write transactions take in this process (see above)."""
_MYSQL_RETRY_CODES = {1213, 1205}  # deadlock, lock wait timeout
_PG_RETRY_STATES = {"40001", "40P01"}  # serialization failure, deadlock


def make_engine(url: str) -> Engine:
    """An engine configured for this project's locking rules on its dialect."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            pool_size=20,
            max_overflow=40,
            pool_timeout=60,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _sqlite_begin_immediate(engine)
        _WRITERS[engine] = threading.Lock()
        return engine
    return sa.create_engine(
        url,
        isolation_level="READ COMMITTED",
        pool_size=20,
        max_overflow=40,
        pool_timeout=60,
        # No pre-ping: it cost a round trip every time a connection left the pool. A
        # connection the server dropped while it sat idle fails on its first statement
        # instead; SQLAlchemy then invalidates it (and every older pooled connection) and
        # ``transaction`` reruns the work on a new one (see ``is_retryable``).
        pool_recycle=POOL_RECYCLE_SECONDS,
        # The most recently used connection first: one request at a time keeps meeting the
        # same warm server backend (and its prepared statements), not all of them in turn.
        pool_use_lifo=True,
    )


def _sqlite_begin_immediate(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        reads_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def transaction(
    factory: sessionmaker[Session], work: Callable[[Session], T], *, read_only: bool = False
) -> T:
    """Run ``work`` in one transaction, committed on return, retried on deadlock/busy.

    ``work`` must be safe to rerun from the start: a retried attempt sees nothing of the
    rolled-back one. ``read_only``: ``work`` only reads, without row locks; on SQLite the
    transaction then takes no write lock (a plain ``BEGIN``), elsewhere it is an ordinary
    READ COMMITTED transaction.
    """
    bind = factory.kw.get("bind")
    writers = None if read_only or bind is None else _WRITERS.get(bind)
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            with _writer_turn(writers), factory() as session, session.begin():
                if read_only:  # the options must be set before the connection begins
                    session.connection(execution_options=_read_only_options(factory))
                return work(session)
        except DBAPIError as exc:
            if attempt == RETRY_ATTEMPTS or not is_retryable(exc):
                raise
            log.info("retrying transaction after %s (attempt %d)", _code(exc), attempt)
            time.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def _writer_turn(writers: threading.Lock | None) -> Iterator[None]:
    """Hold this process's SQLite writer lock (``None``: no such lock) for a transaction.
    Waiting is bounded like SQLite's own ``busy_timeout``: a writer that gets no turn in
    that time goes on without it and meets SQLite's busy handler, whose "database is
    locked" ``transaction`` retries and finally raises, as before the lock existed."""
    taken = writers is not None and writers.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        yield
    finally:
        if taken:
            assert writers is not None
            writers.release()


def _read_only_options(factory: sessionmaker[Session]) -> dict[str, Any]:
    """A read-only transaction's connection options. PostgreSQL: autocommit, so that a
    read sends no BEGIN and no COMMIT (two round trips fewer; each statement reads the
    latest commit, as under READ COMMITTED). The others keep their ordinary transaction:
    SQLite's is in-process, and MariaDB's driver would spend a round trip to switch."""
    bind = factory.kw.get("bind")
    if bind is not None and bind.dialect.name == "postgresql":
        return {READ_ONLY: True, "isolation_level": "AUTOCOMMIT"}
    return {READ_ONLY: True}


def is_retryable(exc: DBAPIError) -> bool:
    """A deadlock, lock timeout, busy database or dropped connection: rerun the transaction.

    A connection lost mid-transaction (``pg_terminate_backend``, a server restart) rolled
    the transaction back, or committed it if it died during COMMIT; every ``work`` given to
    ``transaction`` reads its state before it writes, so a rerun finds what is there.
    """
    if exc.connection_invalidated:
        return True
    code = _code(exc)
    if isinstance(code, int):
        return code in _MYSQL_RETRY_CODES
    if isinstance(code, str):
        return code in _PG_RETRY_STATES
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def _code(exc: DBAPIError) -> int | str | None:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def insert_ignore(session: Session, model: type[Any], values: dict[str, Any]) -> None:
    """Insert a row unless a unique key already holds one (then do nothing).

    Callers lock and read the row afterwards; the driver's row count is not used because
    MySQL drivers report "found rows" for the no-op update.
    """
    table = cast(sa.Table, model.__table__)
    session.execute(_insert_or_nothing(_dialect(session), table), values)


def insert_new(session: Session, model: type[M], values: dict[str, Any]) -> M | None:
    """Insert a row unless a unique key already holds one; the new row, or ``None``.

    PostgreSQL and SQLite: one statement, ``INSERT ... ON CONFLICT DO NOTHING RETURNING``;
    the row it returns is this transaction's own, unseen by others until the commit (a
    concurrent insert of the same key waits for that commit, then finds it taken), so it
    needs no locking read. ``None``: the key was taken. MariaDB: always ``None`` after
    ``insert_ignore``, because its driver cannot tell a new row from the no-op update;
    the caller's locking read then finds the row, new or not, as on a conflict.
    """
    dialect = _dialect(session)
    if dialect in {"mysql", "mariadb"}:
        insert_ignore(session, model, values)
        return None
    stmt = _insert_returning(dialect, cast(Any, model))
    return cast("M | None", session.execute(stmt, values).scalar_one_or_none())


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@functools.cache
def _insert_returning(dialect: str, model: Any) -> Any:
    """``_insert_or_nothing`` returning the new row as a ``model`` (built once, too)."""
    # render_nulls: a value given as None is sent as NULL, as ``.values()`` sent it, not
    # left out (which would let the column's default fill it in)
    return _insert_or_nothing(dialect, model).returning(model).execution_options(render_nulls=True)


@functools.cache
def _insert_or_nothing(dialect: str, target: Any) -> Any:
    """The dialect's ``INSERT`` into ``target`` (a table or a mapped class) that does
    nothing when a unique key already holds the row. Built once per dialect and target
    (a statement built per call costs a walk of its values for the cache key); the row's
    values are the parameters it is executed with."""
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(target).on_conflict_do_nothing()
    if dialect in {"mysql", "mariadb"}:
        # A no-op update, not INSERT IGNORE: IGNORE would also swallow other errors.
        stmt = mysql.insert(target)
        return stmt.on_duplicate_key_update({"id": sa.inspect(target).c.id})
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def dialect_name(url: str) -> str:
    return sa.engine.make_url(url).get_backend_name()
