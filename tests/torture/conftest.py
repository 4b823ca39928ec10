"""Fixtures of the torture tests: one fake provider for the session, a Context per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness._process import ServerProcess
from harness.torture._stack import SCALES, Context


@pytest.fixture(scope="session")
def torture_fake() -> Iterator[ServerProcess]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as server:
        yield server


@pytest.fixture
def make_context(
    request: pytest.FixtureRequest, torture_fake: ServerProcess, tmp_path: Path
) -> Callable[[str], Context]:
    """``make_context("postgresql")``: a quick-scale context on that database."""

    def make(database: str) -> Context:
        if database == "sqlite":
            url = f"sqlite:///{tmp_path / 'torture.sqlite3'}"
        elif database == "postgresql":
            url = str(request.getfixturevalue("postgres_url"))
        else:
            url = str(request.getfixturevalue("mariadb_url"))
        return Context(database, url, SCALES["quick"], tmp_path, torture_fake.url)

    return make
