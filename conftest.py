"""Top-level pytest configuration shared by every test folder.

Database servers and Chromium are real dependencies here. Outside CI a missing
one skips the tests that need it; with ``CI=true`` a missing one is a failure,
never a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from harness._databases import create_scratch_database, drop_scratch_database
from harness._testing import missing

# Property tests judge correctness, not speed: a busy two-core CI machine must not fail
# them on Hypothesis's timing checks (a test that sets its own settings keeps them).
settings.register_profile("nodouble", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nodouble")

POSTGRES_ADMIN_URL = os.environ.get(
    "NODOUBLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "NODOUBLE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def _create_scratch_database(admin_url: str, what: str) -> tuple[str, str]:
    """Create a throwaway database next to ``admin_url``; return (url, name)."""
    try:
        return create_scratch_database(admin_url)
    except Exception as exc:  # any driver error means "server not usable"
        missing(what, f"{type(exc).__name__}: {exc}".splitlines()[0])
        raise  # not reached: missing() skips or fails


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database, dropped at the end of the session."""
    url, name = _create_scratch_database(POSTGRES_ADMIN_URL, "PostgreSQL")
    yield url
    drop_scratch_database(POSTGRES_ADMIN_URL, name)


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """URL of a fresh MariaDB database, dropped at the end of the session."""
    url, name = _create_scratch_database(MARIADB_ADMIN_URL, "MariaDB")
    yield url
    drop_scratch_database(MARIADB_ADMIN_URL, name)


@pytest.fixture
def own_database_url(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A factory of databases no other test shares (``sqlite``, ``postgres`` or ``mariadb``),
    for tests whose rows must not be touched by the reconciler of another test's server."""
    made: list[tuple[str, str]] = []
    admins = {
        "postgres": (POSTGRES_ADMIN_URL, "PostgreSQL"),
        "mariadb": (MARIADB_ADMIN_URL, "MariaDB"),
    }

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'own-{len(made)}.sqlite3'}"
        admin, what = admins[kind]
        url, name = _create_scratch_database(admin, what)
        made.append((admin, name))
        return url

    yield make
    for admin, name in made:
        drop_scratch_database(admin, name)
