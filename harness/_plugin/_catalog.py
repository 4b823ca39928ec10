"""The scenario catalog as pytest items: one per scenario the glob selects.

With ``--nodouble-target FILE`` the plugin appends a ``nodouble`` collector to the
session's items (no file is collected, so it works from any directory). Each item runs
its scenario through the session's :class:`~._session.NodoubleSession`:

- ``passed`` passes; ``not_applicable`` is a skip with the reason (a missing Chromium
  fails instead when ``CI=true``); ``failed`` and ``error`` fail, and the failure shows
  each violated invariant with its first and worst evidence and the kept report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harness._plugin._session import NO_CHROMIUM, NodoubleSession, TargetUnavailable
from harness._testing import missing
from harness.reports import CheckOutcome, ScenarioRun
from scenarios import Scenario, select

EVIDENCE_CHARS = 1200


class ScenarioFailed(Exception):
    """A scenario run that did not pass; :func:`describe` renders it."""

    def __init__(self, run: ScenarioRun, report: Path | None) -> None:
        super().__init__(run.reason or run.status)
        self.run = run
        self.report = report


def _evidence(label: str, value: dict[str, Any] | None) -> list[str]:
    if not value:
        return []
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    if len(text) > EVIDENCE_CHARS:
        text = text[:EVIDENCE_CHARS] + "\n... (truncated; the full evidence is in the report)"
    body = "\n".join("        " + line for line in text.splitlines())
    return [f"      {label}:", body]


def _check(check: CheckOutcome) -> list[str]:
    mark = "VIOLATED" if check.valid is False else "UNKNOWN"
    lines = [f"  {mark} {check.name}: {check.message}"]
    if check.counts:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(check.counts.items()))
        lines.append(f"      counts: {counts}")
    lines += _evidence("first", check.first)
    if check.worst and check.worst != check.first:
        lines += _evidence("worst", check.worst)
    return lines


def describe(run: ScenarioRun, report: Path | None) -> str:
    """The failure message: what broke, which invariants, their evidence, the report."""
    lines = [
        f"nodouble scenario {run.scenario_id} {run.status}: {run.reason or ''}".rstrip(),
        f"  {run.title}",
        f"  threat: {run.threat_id} ({run.threat_link})",
        f"  business keys: {', '.join(run.business_keys) or 'none'}",
    ]
    for check in run.checks:
        if check.valid is not True:
            lines += _check(check)
    if report is not None:
        lines.append(f"  report: {report / 'report.html'} (also report.json, junit.xml)")
    return "\n".join(lines)


class ScenarioItem(pytest.Item):
    """One catalog scenario run against the session's target."""

    def __init__(self, *, scenario: Scenario, state: NodoubleSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.state = state
        self.add_marker("nodouble")
        self.extra_keyword_matches.update(scenario.tags)

    def runtest(self) -> None:
        why = self.state.not_applicable(self.scenario)
        if why is not None:
            self._not_applicable(why)
        try:
            run = self.state.run(self.scenario)
        except TargetUnavailable as exc:
            pytest.fail(f"nodouble: {exc}", pytrace=False)
        self.user_properties.append(("nodouble_status", run.status))
        if run.status == "not_applicable":
            self._not_applicable(run.reason or "not applicable to this target")
        if run.status != "passed":
            raise ScenarioFailed(run, self.state.report_dir(run))

    def _not_applicable(self, why: str) -> NoReturn:
        if why.startswith(NO_CHROMIUM):
            missing("Chromium", why.removeprefix(NO_CHROMIUM).strip(" ()") or why)
        pytest.skip(f"not applicable: {why}")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return describe(excinfo.value.run, excinfo.value.report)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"nodouble scenario {self.scenario.id}"


class Catalog(pytest.Collector):
    """The selected scenarios of the catalog, under the node id ``nodouble``."""

    def __init__(self, *, state: NodoubleSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = state

    def collect(self) -> Iterator[ScenarioItem]:
        for scenario in select(self.state.pattern):
            yield ScenarioItem.from_parent(
                self, name=scenario.id, scenario=scenario, state=self.state
            )


def scenario_items(session: pytest.Session, state: NodoubleSession) -> list[ScenarioItem]:
    """The catalog's items, reported as collected (so "collected N items" counts them)."""
    catalog = Catalog.from_parent(session, name="nodouble", nodeid="nodouble", state=state)
    items = list(catalog.collect())
    report = pytest.CollectReport(
        catalog.nodeid, "passed", None, list[pytest.Item | pytest.Collector](items)
    )
    session.ihook.pytest_collectreport(report=report)
    return items


class CatalogPlugin:
    """Registered only with ``--nodouble-target``: adds the catalog to the collected items."""

    def __init__(self, state: NodoubleSession) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        items.extend(scenario_items(session, self.state))
