"""nodouble's pytest plugin: fixtures, the ``nodouble`` marker, and the catalog as tests.

Installed with the package (``pytest11`` entry point). It costs nothing until used:
heavy imports wait until a fixture is requested or a ``--nodouble-*`` option is given.

- ``fake_provider`` (session): a running fake provider, ``.url`` and ``.client``
  (a :class:`~fake_provider.client.FakeProviderClient`).
- ``reference_app`` (session): reference_app on SQLite wired to ``fake_provider``;
  ``.url``, ``.provider_url``.
- ``nodouble_target`` (session): the live :class:`~harness.target.Target` of
  ``--nodouble-target`` (default: the reference profile).
- ``nodouble_run``: ``nodouble_run("api.same_key_sequential")`` runs one scenario
  against ``nodouble_target`` and returns its :class:`~harness.reports.ScenarioRun`.

``pytest --nodouble-target FILE [--nodouble-scenario GLOB]`` also runs the catalog: one
test per scenario, skipped when not applicable, failing with the violated invariants.
Reports are kept for failures only, under ``--nodouble-report-dir`` (``reports/pytest``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness._plugin._servers import FakeProvider, ReferenceApp
    from harness._plugin._session import NodoubleSession
    from harness.reports import ScenarioRun
    from harness.target import Target

SESSION = pytest.StashKey["NodoubleSession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nodouble", "no-double-charge scenarios")
    group.addoption(
        "--nodouble-target",
        metavar="FILE",
        help="target profile (TOML); runs the scenario catalog against it as tests",
    )
    group.addoption(
        "--nodouble-scenario",
        metavar="GLOB",
        help="only catalog scenarios whose id matches this glob (e.g. 'api.*')",
    )
    group.addoption(
        "--nodouble-report-dir",
        metavar="DIR",
        help="where reports of failed scenarios are kept (default: reports/pytest)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nodouble: a no-double-charge scenario test")
    target = config.getoption("nodouble_target", None)
    if target is None:
        if config.getoption("nodouble_scenario", None) is not None:
            raise pytest.UsageError(
                "--nodouble-scenario selects catalog scenarios for --nodouble-target; give "
                "--nodouble-target FILE too (targets/reference.toml for the reference app)"
            )
        return
    from harness._plugin._catalog import CatalogPlugin

    state = _session(config)
    from harness.profile import ProfileError
    from scenarios import select

    try:
        state.profile  # noqa: B018  (load and validate now: a bad file is a usage error)
    except ProfileError as exc:
        raise pytest.UsageError(f"--nodouble-target: {exc}") from None
    if not select(state.pattern):
        raise pytest.UsageError(
            f"--nodouble-scenario {state.pattern!r} matches no scenario "
            "(`nodouble scenarios` lists the ids)"
        )
    config.pluginmanager.register(CatalogPlugin(state), "nodouble-catalog")


def _session(config: pytest.Config) -> NodoubleSession:
    """The session's nodouble state, created on first use and closed at unconfigure."""
    if SESSION not in config.stash:
        from harness._plugin._session import session_for

        state = session_for(
            config.getoption("nodouble_target", None),
            config.getoption("nodouble_scenario", None),
            config.getoption("nodouble_report_dir", None),
            config.invocation_params.dir,
        )
        config.stash[SESSION] = state
        config.add_cleanup(state.close)
    return config.stash[SESSION]


@pytest.fixture(scope="session")
def fake_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeProvider]:
    """A running fake provider for the session: ``.url`` and ``.client``."""
    from harness._plugin._servers import start_fake_provider

    provider = start_fake_provider(tmp_path_factory.mktemp("nodouble-provider"))
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="session")
def reference_app(
    fake_provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ReferenceApp]:
    """reference_app on SQLite, wired to ``fake_provider``: ``.url``, ``.provider_url``."""
    from harness._plugin._servers import start_reference_app

    app = start_reference_app(tmp_path_factory.mktemp("nodouble-reference"), fake_provider.url)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def nodouble_target(pytestconfig: pytest.Config) -> Target:
    """The live target of ``--nodouble-target`` (default: the reference profile)."""
    from harness._plugin._session import TargetUnavailable
    from harness.profile import ProfileError

    try:
        return _session(pytestconfig).target()
    except (TargetUnavailable, ProfileError) as exc:
        pytest.fail(f"nodouble: {exc}", pytrace=False)


@pytest.fixture
def nodouble_run(
    pytestconfig: pytest.Config, nodouble_target: Target
) -> Callable[[str], ScenarioRun]:
    """``nodouble_run(scenario_id) -> ScenarioRun`` against ``nodouble_target``."""
    import scenarios

    state = _session(pytestconfig)

    def run(scenario_id: str) -> ScenarioRun:
        try:
            scenario = scenarios.get(scenario_id)
        except KeyError:
            pytest.fail(
                f"nodouble_run: no scenario {scenario_id!r} (`nodouble scenarios` lists the ids)",
                pytrace=False,
            )
        return state.run(scenario)

    return run
