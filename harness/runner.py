"""The runner: every selected scenario, every repeat, against one target; then reports.

For each scenario run it decides applicability (a scenario whose needs the target does
not declare is ``not_applicable``, never passed) and interprets the steps into a fresh
history, noting the provider's ledger cursor before and after. Once every run has ended
it reads *every* ledger row written meanwhile and gives each to the run it belongs to
(:mod:`harness._attribution`), so no charge escapes the verdict for carrying an unexpected
business key or account. Then it runs each scenario's checkers and turns their verdicts
into a status:

- ``passed``: every gated checker said valid, and every fault armed fired on a call that
  moves money;
- ``failed``: a gated checker found a violation (``failure`` says money or hygiene);
- ``error``: the scenario could not run to the end, a fault it armed never fired, or a
  gated checker could not decide (``unknown``). An error is never a pass.

A run that broke is still judged on its money: the interpreter waits out the reconcile
window and reads back every order before giving up
(:meth:`~harness.interpreter.Interpreter.take_stock`), so a charge made before the break
that is doubled or shown unpaid fails the run (money), and the break is named beside it.

Money invariants are always gated; hygiene ones only when the profile's ``gate`` or
:class:`RunOptions` asks. Hygiene violations outside the gate are still reported.
"""

from __future__ import annotations

import platform
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness._attribution import Attribution, Share, Window, attribute
from harness._browsing import BrowserSession
from harness._preflight import SetupError, check_account
from harness._schedule import DEFAULT_BROWSER_JOBS, DEFAULT_JOBS, schedule
from harness.checkers import CheckContext, CheckResult, run_checkers
from harness.checkers._base import PAYMENT_FS
from harness.history import History
from harness.interpreter import Interpreter
from harness.ledger import LedgerEntry, LedgerView
from harness.ledger_sources import LedgerSource, open_source
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
from harness.reports._threats import threat_catalog
from harness.target import Target
from harness.types import ScenarioStatus, Severity
from scenarios import Scenario

Progress = Callable[[str], None]
"""Called with a scenario id each time one run of it has been carried out."""


@dataclass
class RunOptions:
    repeat: int = 1
    race_repeat: int = 3
    """Scenarios tagged ``race`` run this many times as often (a rare race must show)."""
    seed: int | None = None
    browser: bool = True
    jobs: int = DEFAULT_JOBS
    """How many API and webhook scenario runs may share the target at once (1: every run
    one after another, browser ones too)."""
    browser_jobs: int = DEFAULT_BROWSER_JOBS
    """How many browser scenario runs may overlap, each in its own browser contexts of one
    Chromium (1: one after another)."""
    gate: tuple[Severity, ...] | None = None
    """What fails a scenario; ``None``: the profile's ``gate``."""
    preflight: bool = True
    """Probe the checkout's provider account before the first scenario
    (:func:`harness._preflight.check_account`)."""


@dataclass
class _Executed:
    """One scenario run carried out, not judged yet."""

    scenario: Scenario
    base: dict[str, Any]
    history: History
    interp: Interpreter
    error: str | None
    duration_s: float
    window: Window


@dataclass
class Runner:
    target: Target
    report_dir: Path
    options: RunOptions = field(default_factory=RunOptions)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Capabilities the target declares but this machine cannot provide, with why."""
    source: LedgerSource | None = None
    """Where the provider's ledger is read; ``None``: the one the profile names
    (:func:`harness.ledger_sources.open_source`), opened on first use."""
    _browser: BrowserSession | None = None
    _browser_thread: int | None = None
    """The thread that launched (and alone may close) the shared Chromium."""
    _attached: dict[int, BrowserSession] = field(default_factory=dict)
    """Thread → its own session on the shared Chromium (:meth:`_browser_session`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _own_source: bool = False

    def run(
        self,
        scenarios: Sequence[Scenario],
        progress: Progress | None = None,
        times: Mapping[str, int] | None = None,
    ) -> RunReport:
        """Carry out every run of ``scenarios`` (scheduled by :func:`schedule`), then judge
        them all. ``times``: how many runs a scenario id gets; by default ``repeat``, and
        ``race_repeat`` times as many for a scenario tagged ``race``."""
        started = datetime.now(UTC)
        items = [(s, r) for s in scenarios for r in range(self._times(s, times))]
        if self.options.preflight:
            self._ledger.check()
            if self._ledger.account_probe:
                check_account(self.target)
        first_seq = self._cursor()
        done: dict[int, _Executed | ScenarioRun] = {}
        alone: list[int] = list(range(len(items)))
        browser: list[int] = []
        shared: list[int] = []
        if self.options.jobs > 1:
            alone, browser, shared = schedule(items)
        beside = set(browser) | set(shared)

        def one(index: int) -> None:
            scenario, repeat = items[index]
            done[index] = self._execute(scenario, repeat, index, scoped=index in beside)
            if progress is not None:
                progress(scenario.id)

        try:
            if self.options.jobs <= 1:
                for index in range(len(items)):
                    one(index)
            else:
                for index in alone:
                    one(index)
                with ThreadPoolExecutor(self.options.jobs, "nodouble-run") as pool:
                    pending = [pool.submit(one, index) for index in shared]
                    self._browser_runs(browser, [items[i][0] for i in browser], one)
                    for future in pending:
                        future.result()
            order = sorted(done)
            self._settle()
            runs, orphans = self._judge([done[i] for i in order], first_seq)
            foreign = sorted({a for r in runs for a in _accounts(r)} - {self._api_key})
            if foreign:
                raise SetupError(
                    f"the checkout pays with account {', '.join(foreign)}, but the profile's "
                    f"provider.api_key is {self._api_key}: set [provider] api_key to the key "
                    "the checkout uses"
                )
            for position, index in enumerate(order):
                executed = done[index]
                if _ambiguous(runs[position]):
                    runs[position] = self._again_alone(*items[index], runs[position])
                elif _out_of_scope(executed, runs[position]):
                    runs[position] = self._again_unscoped(*items[index], runs[position])
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
            runs=runs,
            unattributed=[e.to_row() for e in orphans],
            threats=threat_catalog(),
        )

    def _times(self, scenario: Scenario, times: Mapping[str, int] | None) -> int:
        if times is not None and scenario.id in times:
            return max(1, times[scenario.id])
        race = max(1, self.options.race_repeat) if "race" in scenario.tags else 1
        return self.options.repeat * race

    def _browser_runs(
        self, indexes: list[int], scenarios: list[Scenario], one: Callable[[int], None]
    ) -> None:
        """Carry out the browser runs ``indexes`` (longest first; ``scenarios``: each
        one's scenario), up to ``options.browser_jobs`` at once: this thread drives the
        Chromium it launches, and each helper thread attaches a session of its own to it,
        which it closes itself (a Playwright instance belongs to the thread that started
        it)."""
        workers = min(max(1, self.options.browser_jobs), len(indexes))
        if workers > 1 and any(self._not_applicable(s) is None for s in scenarios):
            self._browser_session()  # launched here, so that it outlives the helpers
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in indexes:
            todo.put(index)
        failures: list[BaseException] = []

        def drain() -> None:
            while not failures:
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                one(index)

        def helper() -> None:
            try:
                drain()
            except BaseException as exc:
                failures.append(exc)
            finally:
                self._detach()

        helpers = [
            threading.Thread(target=helper, name=f"nodouble-browser-{n}", daemon=True)
            for n in range(1, workers)
        ]
        for thread in helpers:
            thread.start()
        try:
            drain()
        finally:
            for thread in helpers:
                thread.join()
        if failures:
            raise failures[0]

    def close(self) -> str | None:
        """Close the shared Chromium, if one was started; returns its version. A ledger
        source the runner opened itself is closed too."""
        if self._own_source and self.source is not None:
            self.source.close()
            self.source, self._own_source = None, False
        self._detach()
        if self._browser is None:
            return None
        version = self._browser.version
        self._browser.close()
        self._browser = None
        self._browser_thread = None
        return version

    def run_one(self, scenario: Scenario, repeat: int = 0) -> ScenarioRun:
        """Carry out and judge one scenario run on its own."""
        first_seq = self._cursor()
        executed = self._execute(scenario, repeat, 0)
        runs, orphans = self._judge([executed], first_seq)
        run = runs[0]
        if orphans and run.status == "passed":
            ids = ", ".join(e.id for e in orphans[:3])
            run.status, run.reason = "error", f"ledger row(s) {ids} written after the run ended"
        return run

    # -- carrying out ---------------------------------------------------------------------

    def _execute(
        self, scenario: Scenario, repeat: int, index: int, *, scoped: bool = False
    ) -> _Executed | ScenarioRun:
        """Carry out one run (``scoped``: its provider faults reach its own intents only, as
        runs go on beside it)."""
        base = {
            "scenario_id": scenario.id, "title": scenario.title, "group": scenario.group,
            "threat_id": scenario.threat, "threat_link": threat_link(scenario.threat),
            "repeat": repeat,
        }  # fmt: skip
        why = self._not_applicable(scenario)
        if why is not None:
            return ScenarioRun(**base, status="not_applicable", reason=why)
        run_id = uuid.uuid4().hex[:10]
        artifacts = self.report_dir / "artifacts" / f"{scenario.id}-{repeat}"
        history = History()
        interp = Interpreter(
            self.target, history, artifacts, run_id,
            browser=self._browser_session() if "browser" in scenario.needs else None,
            ledger=self._ledger, scoped=scoped and "provider_faults" in scenario.needs,
        )  # fmt: skip
        started = time.monotonic()
        error: str | None = None
        first_seq = self._cursor()
        try:
            interp.run(scenario)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            tb = traceback.format_exc(limit=6)
            history.ok(history.invoke("harness", "error", {"error": error, "traceback": tb}))
        last_seq = self._cursor()
        window = Window(
            run=index, first_seq=first_seq, last_seq=last_seq,
            orders=frozenset(interp.state.orders.values()), busy=_busy(history),
        )  # fmt: skip
        duration = round(time.monotonic() - started, 3)
        return _Executed(scenario, base, history, interp, error, duration, window)

    def _not_applicable(self, scenario: Scenario) -> str | None:
        """Why ``scenario`` cannot run here (``None``: it can)."""
        unavailable = {**self._ledger.unavailable, **self.unavailable}
        lacking = sorted(set(scenario.needs) & set(unavailable))
        if lacking:
            return unavailable[lacking[0]]
        missing = scenario.missing(self.target.capabilities)
        if missing:
            return f"the target does not declare: {', '.join(missing)}"
        return None

    def _again_alone(self, scenario: Scenario, repeat: int, first: ScenarioRun) -> ScenarioRun:
        """Run a scenario again with nothing beside it, after concurrent runs left ledger rows
        that no single run could own. Its verdict then decides; a pass is still an error,
        because the first attempt's extra charges stay unexplained."""
        rows = ", ".join(_ambiguous(first)[:3])
        again = self.run_one(scenario, repeat)
        note = f"ledger row(s) {rows} written beside other scenarios could not be attributed"
        if again.status == "failed":
            again.reason = f"{again.reason} (run again alone: {note})"
        elif again.status == "passed":
            again.status = "error"
            again.reason = (
                f"{note}; run again alone it passed: charges appear only when scenarios run "
                "side by side; run with --jobs 1 to decide"
            )
        return again

    def _again_unscoped(self, scenario: Scenario, repeat: int, first: ScenarioRun) -> ScenarioRun:
        """Run a scenario again alone with unscoped faults, after its scoped faults may have
        missed its payments (:func:`_out_of_scope`). This verdict stands on its own: the
        first attempt proved nothing, and failed nothing (else it would stand)."""
        again = self.run_one(scenario, repeat)
        key = self.target.profile.provider.business_key
        why = first.reason or f"charges not labelled metadata[{key}] with its orders"
        note = (
            f"run again alone: its provider faults, scoped by metadata[{key}], may have "
            f"missed it ({why})"
        )
        again.reason = f"{again.reason} ({note})" if again.reason else note
        return again

    @property
    def _api_key(self) -> str:
        return self.target.profile.provider.api_key

    def _settle(self, quiet_s: float = 1.0) -> None:
        """Wait until the ledger has been quiet for ``quiet_s`` (at most the reconcile window,
        or 5 s), so that a charge landing just after the last scenario is read, not missed."""
        self._ledger.settle(quiet_s, max(self.target.profile.reconcile_window_s or 0.0, 5.0))

    def _cursor(self) -> int:
        return self._ledger.cursor()

    @property
    def _ledger(self) -> LedgerSource:
        if self.source is None:
            self.source, self._own_source = open_source(self.target), True
        return self.source

    # -- judging ----------------------------------------------------------------------------

    def _judge(
        self, done: list[_Executed | ScenarioRun], first_seq: int
    ) -> tuple[list[ScenarioRun], list[LedgerEntry]]:
        executed = [d for d in done if isinstance(d, _Executed)]
        field_name = self.target.profile.provider.business_key
        shares: Attribution | None = None
        read_error: str | None = None
        if executed:
            try:
                entries = self._ledger.rows(after_seq=first_seq)
                shares = attribute(entries, [d.window for d in executed], field_name)
            except Exception as exc:  # no ledger, no verdict: every money check is unknown
                read_error = f"the provider's ledger could not be read: {exc}"
        runs: list[ScenarioRun] = []
        for item in done:
            if isinstance(item, ScenarioRun):
                runs.append(item)
                continue
            share = shares.shares.get(item.window.run) if shares else None
            runs.append(self._check(item, share, read_error))
        return runs, (shares.orphans if shares else [])

    def _check(self, item: _Executed, share: Share | None, read_error: str | None) -> ScenarioRun:
        profile = self.target.profile
        field_name = profile.provider.business_key
        state = item.interp.state
        entries = share.entries if share else []
        ledger = LedgerView(entries=tuple(entries), field=field_name)
        orders = tuple(sorted(set(state.orders.values())))
        summary = {
            "rows": len(entries),
            "window": [item.window.first_seq, item.window.last_seq],
            "strays": list(share.strays) if share else [],
            "ambiguous": list(share.ambiguous) if share else [],
            "how": dict(share.how) if share else {},
            "accounts": sorted({e.account for e in entries if e.account}),
        }
        if read_error:
            summary["error"] = read_error
        read = {"business_key": field_name, "source": self._ledger.describe()}
        op = item.history.invoke("harness", "ledger_read", read)
        complete = item.history.ok if share is not None else item.history.info
        complete(op, summary)
        ctx = CheckContext(
            business_key=field_name,
            reconcile_window_passed=state.reconcile_window_passed,
            expected_amounts=dict(state.amounts),
            scenario_id=item.scenario.id,
            ledger_read=share is not None,
            orders=orders,
            owners={oid: item.interp.user_name(u) for oid, u in state.creators.items()},
            strays=tuple(share.strays) if share else (),
            ambiguous=tuple(share.ambiguous) if share else (),
        )
        checks = run_checkers(item.scenario.invariants, item.history, ledger, ctx)
        gate = self.options.gate or tuple(profile.gate)
        problems = list(item.interp.fault_problems)
        foreign = sorted(
            {e.account for e in entries if e.account and e.account != profile.provider.api_key}
        )
        if foreign:
            problems.append(
                f"charges were made with account(s) {', '.join(foreign)}, not the profile's "
                f"provider.api_key {profile.provider.api_key}"
            )
        if item.scenario.pays and share is not None and not ledger.all_charges():
            problems.append(
                "the story never paid: no charge reached the provider's ledger, so nothing "
                "here shows whether the checkout charges twice (were the confirms refused? "
                "check [api.confirm], the session and the provider URL)"
            )
        status, reason, failure = _status(checks, item.error, problems, gate)
        return ScenarioRun(
            **item.base,
            status=status,
            reason=reason,
            failure=failure,
            hygiene=[c.name for c in checks if c.valid is False and c.severity == "hygiene"],
            duration_s=item.duration_s,
            checks=[CheckOutcome.of(c) for c in checks],
            history=item.history.to_json(),
            ledger=[e.to_row() for e in entries],
            business_keys=list(orders),
            screenshots=item.interp.screenshots,
            started_wall=item.history.started_wall,
        )

    def _browser_session(self) -> BrowserSession:
        """The calling thread's session: the Chromium itself in the thread that launched it
        (on first use), a session attached to it in any other thread."""
        me = threading.get_ident()
        with self._lock:
            if self._browser is None:
                shared = self.options.browser_jobs > 1 and self.options.jobs > 1
                self._browser = BrowserSession.launch(shared=shared)
                self._browser_thread = me
            if me == self._browser_thread:
                return self._browser
            session = self._attached.get(me)
            if session is None:
                session = self._attached[me] = self._browser.attach()
            return session

    def _detach(self) -> None:
        """Close the calling thread's attached session, if it has one."""
        with self._lock:
            session = self._attached.pop(threading.get_ident(), None)
        if session is not None:
            session.close()


PROVIDER_PAYMENT_FS = frozenset({"hosted_pay_off_page"})
"""Operations that pay on the provider's side without a click in a checkout page."""


def _accounts(run: ScenarioRun) -> list[str]:
    """The provider accounts of the ledger rows a run owns."""
    return [str(row["account"]) for row in run.ledger if row.get("account")]


def _out_of_scope(executed: _Executed | ScenarioRun, run: ScenarioRun) -> bool:
    """Whether a run whose provider faults were scoped to its intents may have met none of
    them: a fault on money never acted, or the checkout charged under no business key of
    the run (a stray row), which a scoped fault, a search lag included, cannot reach. A
    failed run stands: its charges are real whatever the faults did."""
    if not isinstance(executed, _Executed) or not executed.interp.scoped:
        return False
    if run.status not in ("passed", "error"):
        return False
    return executed.interp.scope_missed or bool(_ledger_read(run).get("strays"))


def _ledger_read(run: ScenarioRun) -> dict[str, Any]:
    """What the run's ``ledger_read`` found (empty if the ledger was not read)."""
    for op in run.history:
        if op.get("f") == "ledger_read" and op.get("type") == "ok":
            return dict(op.get("value") or {})
    return {}


def _ambiguous(run: ScenarioRun) -> list[str]:
    """Ledger row ids this undecided run could not tell from another run's."""
    if run.status != "error":
        return []
    return [str(i) for i in _ledger_read(run).get("ambiguous") or []]


def _busy(history: History) -> tuple[tuple[float, float], ...]:
    """Wall-clock spans of the run's payment requests: confirms, submits, Pay clicks, and
    the clicks on the provider's own pages that complete a payment (its hosted page's Pay,
    a 3-D Secure answer, a payment made off the page)."""
    spans: list[tuple[float, float]] = []
    for invoke, completion in history.pairs():
        value = invoke.value
        on_provider_page = value.get("hosted") == "provider_pay" or "challenge" in value
        if (
            invoke.f in PAYMENT_FS
            or invoke.f in PROVIDER_PAYMENT_FS
            or value.get("pay")
            or (invoke.f == "click" and on_provider_page)
        ):
            end = completion if completion is not None else history.ops[-1]
            spans.append((history.wall(invoke), history.wall(end)))
    return tuple(spans)


def _status(
    checks: list[CheckResult],
    error: str | None,
    problems: list[str],
    gate: tuple[Severity, ...] | list[Severity],
) -> tuple[ScenarioStatus, str | None, Severity | None]:
    """Money first: a money violation fails the scenario whatever else happened; a broken
    run, a fault that never acted or an undecided money check comes next (an error); a gated
    hygiene violation fails it only once money is settled."""
    gated = [c for c in checks if c.severity in gate]
    money_bad = [c for c in gated if c.valid is False and c.severity == "money"]
    hygiene_bad = [c for c in gated if c.valid is False and c.severity != "money"]
    unknown = [c for c in gated if c.valid == "unknown"]
    ungated = [c.name for c in checks if c.valid is False and c.severity not in gate]
    notes = f"; hygiene, not gated: {', '.join(ungated)}" if ungated else ""
    if money_bad:
        reason = f"violated: {', '.join(c.name for c in money_bad + hygiene_bad)}"
        if error:
            reason += f" (and the run broke: {error})"
        elif problems:
            reason += f" (and: {problems[0]})"
        return "failed", reason + notes, "money"
    if error:
        return "error", error, None
    if problems:
        return "error", "; ".join(problems), None
    money_unknown = [c for c in unknown if c.severity == "money"]
    if money_unknown:
        detail = "; ".join(f"{c.name}: {c.message}" for c in money_unknown)
        return "error", f"could not decide: {detail}", None
    if hygiene_bad:
        return "failed", f"violated: {', '.join(c.name for c in hygiene_bad)}" + notes, "hygiene"
    if unknown:
        detail = "; ".join(f"{c.name}: {c.message}" for c in unknown)
        return "error", f"could not decide: {detail}", None
    return "passed", (notes.removeprefix("; ") or None), None
