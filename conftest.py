"""Top-level pytest configuration shared by every test folder.

Database servers and Chromium are real dependencies here. Outside CI a missing
one skips the tests that need it; with ``CI=true`` a missing one is a failure,
never a silent skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from harness._testing import missing

POSTGRES_ADMIN_URL = os.environ.get(
    "NODOUBLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "NODOUBLE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def _create_scratch_database(admin_url: str, what: str) -> tuple[str, str]:
    """Create a throwaway database next to ``admin_url``; return (url, name)."""
    import sqlalchemy as sa

    name = f"nodouble_{uuid.uuid4().hex[:12]}"
    try:
        engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        engine.dispose()
    except Exception as exc:  # any driver error means "server not usable"
        missing(what, f"{type(exc).__name__}: {exc}".splitlines()[0])
    url = sa.engine.make_url(admin_url).set(database=name)
    return url.render_as_string(hide_password=False), name


def _drop_scratch_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        else:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database, dropped at the end of the session."""
    url, name = _create_scratch_database(POSTGRES_ADMIN_URL, "PostgreSQL")
    yield url
    _drop_scratch_database(POSTGRES_ADMIN_URL, name)


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """URL of a fresh MariaDB database, dropped at the end of the session."""
    url, name = _create_scratch_database(MARIADB_ADMIN_URL, "MariaDB")
    yield url
    _drop_scratch_database(MARIADB_ADMIN_URL, name)
