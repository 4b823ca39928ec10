"""Throwaway databases on a PostgreSQL or MariaDB server, for tests, torture and benchmarks.

One place knows how to create a uniquely named database next to an admin URL and how to
drop it again (PostgreSQL needs ``WITH (FORCE)`` when a killed app left connections open).
Callers decide what a server that cannot be used means for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


def create_scratch_database(admin_url: str, prefix: str = "nodouble") -> tuple[str, str]:
    """Create ``<prefix>_<random>`` on the server of ``admin_url``; return (url, name).

    Any driver error propagates: the caller turns it into its own one-line message.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    url = sa.engine.make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def drop_scratch_database(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            force = " WITH (FORCE)" if engine.dialect.name == "postgresql" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        engine.dispose()


@contextmanager
def scratch_database(admin_url: str, prefix: str = "nodouble") -> Iterator[str]:
    """A fresh database's URL for the duration of the block, dropped afterwards."""
    url, name = create_scratch_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_scratch_database(admin_url, name)
