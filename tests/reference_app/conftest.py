"""Fixtures for the reference checkout's tests.

One real fake-provider process for the session; one real checkout process per database
(``checkout_server``). Tests never reset the fake: each uses its own new orders and
reads the ledger for those orders only. Faults are cleared after every test.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from _checkout_support import (
    DATABASES,
    FakeControl,
    Shopper,
    checkout_env,
)

from harness._process import ServerProcess


@pytest.fixture(scope="session")
def fake_server() -> Iterator[ServerProcess]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as server:
        yield server


@pytest.fixture
def fake(fake_server: ServerProcess) -> Iterator[FakeControl]:
    control = FakeControl(fake_server.url)
    yield control
    control.clear_faults()
    control.close()


def database_url(request: pytest.FixtureRequest, kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'checkout.sqlite3'}"
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("mariadb_url"))


@pytest.fixture(scope="session", params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database per kind for the session (SQLite: a new file)."""
    return database_url(request, request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def checkout_server(db_url: str, fake_server: ServerProcess) -> Iterator[ServerProcess]:
    env = checkout_env(db_url, fake_server.url)
    with ServerProcess("reference_app.app:create_app", env=env) as server:
        yield server


@pytest.fixture
def shopper(checkout_server: ServerProcess) -> Iterator[Shopper]:
    client = Shopper(checkout_server.url, "alice-" + secrets.token_hex(4))
    yield client
    client.close()
