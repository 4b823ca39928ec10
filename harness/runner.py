"""The runner: every selected scenario, every repeat, against one target; then reports.

For each scenario run it decides applicability (a scenario whose needs the target does
not declare is ``not_applicable``, never passed), interprets the steps into a fresh
history, reads the fake provider's ledger for the business keys the run created, runs
the scenario's checkers and turns their verdicts into a status:

- ``passed``: every checker said valid;
- ``failed``: at least one checker found a violation;
- ``error``: the scenario could not run to the end, or a checker could not decide
  (``unknown``). An error is never a pass: the CI gate fails on it.
"""

from __future__ import annotations

import platform
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fake_provider.client import FakeProviderClient
from harness import __version__
from harness._browsing import BrowserSession
from harness.checkers import CheckContext, CheckResult, run_checkers
from harness.history import History
from harness.interpreter import Interpreter
from harness.ledger import LedgerView
from harness.reports import (
    CheckOutcome,
    Environment,
    RunReport,
    ScenarioRun,
    threat_link,
)
from harness.reports import (
    Target as ReportTarget,
)
from harness.target import Target
from harness.types import ScenarioStatus
from scenarios import Scenario

Progress = Callable[[ScenarioRun], None]


@dataclass
class RunOptions:
    repeat: int = 1
    seed: int | None = None
    browser: bool = True
    jobs: int = 4
    """How many scenario runs may share the target at once (1: one after another)."""


EXCLUSIVE_NEEDS = frozenset({"provider_faults", "process"})
"""Scenarios that change shared state (the provider's faults, the target process) run alone."""


def schedule(
    items: Sequence[tuple[Scenario, int]],
) -> tuple[list[int], list[int], list[int]]:
    """Split run indexes into (alone, browser, shared).

    ``alone``: they arm provider faults or kill the target, which every concurrent run
    would feel, so each runs with nothing else going on. ``browser``: one Chromium driven
    from one thread (Playwright's sync API is single-threaded), one after another.
    ``shared``: API and webhook scenarios touch only their own orders, keys, users and
    proxy, so they run side by side with each other and with the browser ones.
    """
    alone, browser, shared = [], [], []
    for index, (scenario, _) in enumerate(items):
        if scenario.needs & EXCLUSIVE_NEEDS:
            alone.append(index)
        elif "browser" in scenario.needs:
            browser.append(index)
        else:
            shared.append(index)
    return alone, browser, shared


@dataclass
class Runner:
    target: Target
    report_dir: Path
    options: RunOptions = field(default_factory=RunOptions)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Capabilities the target declares but this machine cannot provide, with why."""
    _browser: BrowserSession | None = None

    def run(self, scenarios: Sequence[Scenario], progress: Progress | None = None) -> RunReport:
        started = datetime.now(UTC)
        items = [(s, r) for s in scenarios for r in range(self.options.repeat)]
        results: dict[int, ScenarioRun] = {}

        def one(index: int) -> None:
            scenario, repeat = items[index]
            results[index] = self.run_one(scenario, repeat)
            if progress is not None:
                progress(results[index])

        try:
            if self.options.jobs <= 1:
                for index in range(len(items)):
                    one(index)
            else:
                alone, browser, shared = schedule(items)
                for index in alone:
                    one(index)
                with ThreadPoolExecutor(self.options.jobs, "nodouble-run") as pool:
                    pending = [pool.submit(one, index) for index in shared]
                    for index in browser:  # here, in the thread that owns Chromium
                        one(index)
                    for future in pending:
                        future.result()
        finally:
            chromium = self.close()
        return RunReport(
            tool_version=__version__,
            started=started,
            finished=datetime.now(UTC),
            target=ReportTarget(name=self.target.profile.name, base_url=self.target.base_url),
            seed=self.options.seed,
            environment=Environment(
                python=sys.version.split()[0], platform=platform.platform(), chromium=chromium
            ),
            runs=[results[index] for index in sorted(results)],
        )

    def close(self) -> str | None:
        """Close the shared Chromium, if one was started; returns its version."""
        if self._browser is None:
            return None
        version = self._browser.version
        self._browser.close()
        self._browser = None
        return version

    def run_one(self, scenario: Scenario, repeat: int = 0) -> ScenarioRun:
        base = {
            "scenario_id": scenario.id, "title": scenario.title, "group": scenario.group,
            "threat_id": scenario.threat, "threat_link": threat_link(scenario.threat),
            "repeat": repeat,
        }  # fmt: skip
        lacking = sorted(set(scenario.needs) & set(self.unavailable))
        if lacking:
            why = self.unavailable[lacking[0]]
            return ScenarioRun(**base, status="not_applicable", reason=why)
        missing = scenario.missing(self.target.capabilities)
        if missing:
            why = f"the target does not declare: {', '.join(missing)}"
            return ScenarioRun(**base, status="not_applicable", reason=why)
        run_id = uuid.uuid4().hex[:10]
        artifacts = self.report_dir / "artifacts" / f"{scenario.id}-{repeat}"
        history = History()
        interp = Interpreter(
            self.target, history, artifacts, run_id,
            browser=self._browser_session() if "browser" in scenario.needs else None,
        )  # fmt: skip
        started = time.monotonic()
        error: str | None = None
        try:
            interp.run(scenario)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc(limit=6)
            history.ok(history.invoke("harness", "error", {"error": error, "traceback": tb}))
        order_ids = sorted(set(interp.state.orders.values()))
        rows = self._ledger_rows(order_ids)
        field_name = self.target.profile.provider.business_key
        ledger = LedgerView.from_rows(rows, field_name, self.target.profile.provider.api_key)
        ctx = CheckContext(
            business_key=field_name,
            reconcile_window_passed=interp.state.reconcile_window_passed,
            expected_amounts=dict(interp.state.amounts),
            scenario_id=scenario.id,
        )
        checks = run_checkers(scenario.invariants, history, ledger, ctx)
        status, reason = _status(checks, error)
        return ScenarioRun(
            **base,
            status=status,
            reason=reason,
            duration_s=round(time.monotonic() - started, 3),
            checks=[CheckOutcome.of(c) for c in checks],
            history=history.to_json(),
            ledger=rows,
            business_keys=order_ids,
            screenshots=interp.screenshots,
        )

    def _ledger_rows(self, order_ids: list[str]) -> list[dict[str, object]]:
        field_name = self.target.profile.provider.business_key
        rows: list[dict[str, object]] = []
        with FakeProviderClient(self.target.provider_url) as client:
            for order_id in order_ids:
                rows.extend(dict(r) for r in client.ledger(field=field_name, value=order_id))
        return rows

    def _browser_session(self) -> BrowserSession:
        if self._browser is None:
            self._browser = BrowserSession.launch()
        return self._browser


def _status(checks: list[CheckResult], error: str | None) -> tuple[ScenarioStatus, str | None]:
    violated = [c.name for c in checks if c.valid is False]
    unknown = [c.name for c in checks if c.valid == "unknown"]
    if violated:
        reason = f"violated: {', '.join(violated)}"
        return "failed", reason + (f" (and the run broke: {error})" if error else "")
    if error:
        return "error", error
    if unknown:
        detail = "; ".join(f"{c.name}: {c.message}" for c in checks if c.valid == "unknown")
        return "error", f"could not decide: {detail}"
    return "passed", None
