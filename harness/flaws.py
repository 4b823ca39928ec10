"""``nodouble flaws``: prove the harness can fail. The flaw matrix.

The catalog is run against the reference checkout with no flaw (the baseline: every
scenario must pass) and then once per deliberate flaw (``reference_app/flaws.py``), each
on a fresh embedded stack (its own provider, checkout process and SQLite file); the
harness is never told which flaw is on.

A flaw is *caught* only the way :data:`CAUGHT_BY` (and docs/flaws.md, which a test keeps
equal to it) says: one of the invariants named for it is violated in one of the scenarios
named for it. A flaw whose runs failed only in other ways (other invariants, other
scenarios) is *caught_unrelated*: reported, never counted as caught, and the matrix fails.
That keeps a flaw from looking caught because of a broken scenario or a noisy checker.

Racy flaws show only when requests interleave. Their named scenarios are repeated
``repeat`` times in all (every other scenario runs once); a repeat catches the flaw if a
named invariant was violated in one of them, and the flaw must be caught in at least 95 %
of the repeats (19 of 20). The baseline runs every chosen scenario and repeats those
scenarios and every ``race`` tagged one, so a catch is never a false alarm the correct
checkout would raise too; it passes only if no run of it found any violation at all,
hygiene ones included (a run status ``passed`` with an ungated hygiene finding still fails
the baseline).

``named_only`` (``nodouble flaws --named-only``; the test suite runs it) runs each flaw
only against its named scenarios, and the baseline against their union.

Flaws run in parallel worker processes (``jobs``), one stack and one Chromium each: a
flaw's stack starts once and serves all its runs, which the runner schedules as
``nodouble run`` does (faults and crashes alone, the rest side by side, longest first).
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.browser import find_chromium
from harness.profile import load_profile
from harness.reports import (
    Environment,
    FlawMatrix,
    RunReport,
    ScenarioRun,
)
from harness.reports import (
    Target as ReportTarget,
)
from harness.reports._model import Cell, CheckOutcome, FlawEvidence, FlawRate, FlawVerdict
from harness.reports._threats import threat_catalog
from harness.runner import Runner, RunOptions
from harness.target import REFERENCE_PROFILE, open_target
from reference_app import flaws as registry
from scenarios import Scenario, select

BASELINE = "baseline"
DEFAULT_REPEAT = 20
RACE_TAG = "race"

CAUGHT_BY: dict[str, dict[str, tuple[str, ...]]] = {
    "no_idempotency": {"api.missing_key": ("missing_key_refused",)},
    "check_then_insert": {
        "api.parallel_same_key": ("at_most_one_charge",),
        "api.parallel_different_keys": ("at_most_one_charge",),
    },
    "no_business_key_guard": {"api.parallel_different_keys": ("at_most_one_charge",)},
    "no_provider_key": {
        "provider.timeout_after_charge": ("at_most_one_charge",),
        "provider.lost_response": ("at_most_one_charge",),
    },
    "charge_before_record": {
        "process.kill_after_charge_client_gone": ("no_orphan_charge",),
        "process.kill_after_charge": ("at_most_one_charge",),
    },
    "lock_across_call_released_early": {"api.retry_while_in_flight": ("at_most_one_charge",)},
    "no_reconcile": {
        "provider.error_after_charge": ("no_orphan_charge",),
        "process.kill_after_charge_client_gone": ("no_orphan_charge",),
    },
    "release_on_error": {"provider.error_after_charge": ("at_most_one_charge",)},
    "store_provider_error": {
        "provider.error_after_charge": ("told_the_truth", "no_orphan_charge"),
    },
    "no_prg": {"browser.back_forward_ssr": ("post_redirect_get",)},
    "no_button_guard": {"browser.impatient_clicks_ssr": ("pay_click_sends_one_post",)},
    "cacheable_pages": {
        "browser.back_forward_ssr": ("no_store_on_payment_pages",),
        "browser.back_forward_spa": ("no_store_on_payment_pages",),
    },
    "webhook_no_dedupe": {"webhooks.duplicate": ("webhooks_accepted",)},
    "webhook_no_signature": {"webhooks.forged": ("forged_webhooks_rejected",)},
    "key_not_user_scoped": {"api.other_users_key": ("keys_user_scoped",)},
    "trust_client_amount": {"api.tampered_amount": ("charge_matches_order",)},
    "threeds_return_confirms": {
        "threeds.return_then_back_ssr": ("at_most_one_charge",),
        "threeds.return_then_back_spa": ("at_most_one_charge",),
    },
    "threeds_new_intent_per_attempt": {
        "threeds.abandoned_new_card_ssr": ("at_most_one_charge",),
        "threeds.abandoned_new_card_spa": ("at_most_one_charge",),
        "threeds.two_tabs_ssr": ("at_most_one_charge",),
        "threeds.two_tabs_spa": ("at_most_one_charge",),
        "threeds.late_then_new_card_ssr": ("at_most_one_charge",),
        "threeds.late_then_new_card_spa": ("at_most_one_charge",),
    },
    "capture_error_is_final": {
        "capture.lost_answer": ("no_orphan_charge", "told_the_truth"),
        "capture.provider_error": ("no_orphan_charge", "told_the_truth"),
    },
    "search_before_charge": {"provider.search_lag_new_key": ("at_most_one_charge",)},
    "hosted_session_per_click": {
        "hosted.two_tabs": ("at_most_one_charge",),
        "hosted.back_and_pay_again": ("at_most_one_charge",),
    },
    "hosted_redirect_only": {"hosted.redirect_never_comes": ("no_orphan_charge",)},
    "hosted_success_unverified": {"hosted.success_url_unpaid": ("no_lost_payment",)},
    "capture_answer_not_stored": {"capture.client_answer_lost": ("told_the_truth",)},
    "hosted_first_session_only": {
        "hosted.two_tabs": ("at_most_one_charge",),
        "hosted.double_click": ("no_orphan_charge",),
    },
    "hosted_fulfil_not_once": {
        "hosted.webhook_after_redirect": ("no_orphan_charge",),
        "hosted.webhook_before_redirect": ("no_orphan_charge",),
        "hosted.reload_success": ("no_orphan_charge",),
    },
}
"""Flaw → scenario → invariants: a flaw is caught only when one of the invariants named
for a scenario is violated in a run of that scenario. docs/flaws.md's table says the same
(``tests/flaws/test_expectations.py`` compares them)."""


class FlawsUsageError(ValueError):
    """A bad option; the message names it and what is allowed."""


@dataclass
class FlawOptions:
    flaws: list[str] = field(default_factory=list)
    """Flaw names; empty: every flaw."""
    repeat: int = DEFAULT_REPEAT
    pattern: str | None = None
    jobs: int = 2
    browser: bool = True
    named_only: bool = False
    """Run each flaw only against the scenarios :data:`CAUGHT_BY` names for it."""


@dataclass
class JobResult:
    """What one worker sends back: the runs of one flaw (or the baseline)."""

    flaw: str
    runs: list[dict[str, Any]]
    wall_s: float
    chromium: str | None = None
    error: str | None = None


def check_options(options: FlawOptions) -> list[str]:
    """The flaws to run, validated; :class:`FlawsUsageError` names a bad one."""
    known = registry.names()
    for name in options.flaws:
        if name not in known:
            raise FlawsUsageError(f"--flaw {name!r} is not a flaw; allowed: {', '.join(known)}")
    if options.repeat < 1:
        raise FlawsUsageError(f"--repeat {options.repeat} must be at least 1")
    if options.jobs < 1:
        raise FlawsUsageError(f"--jobs {options.jobs} must be at least 1")
    return list(options.flaws) or known


def chosen_scenarios(options: FlawOptions) -> tuple[Scenario, ...]:
    """The scenarios matching ``pattern``: one glob, or several separated by commas.

    With ``named_only``, only those some chosen flaw's row of :data:`CAUGHT_BY` names.
    """
    globs = [g.strip() for g in (options.pattern or "").split(",") if g.strip()]
    chosen = (
        select()
        if not globs
        else tuple(s for s in select() if any(fnmatch.fnmatchcase(s.id, g) for g in globs))
    )
    if not options.browser:
        chosen = tuple(s for s in chosen if "browser" not in s.needs)
    if options.named_only:
        named = {sid for flaw in check_options(options) for sid in CAUGHT_BY[flaw]}
        chosen = tuple(s for s in chosen if s.id in named)
    if not chosen:
        raise FlawsUsageError(f"--scenario {options.pattern!r} matched no scenario")
    return chosen


def is_racy(flaw: str) -> bool:
    return flaw in registry.FLAWS and registry.FLAWS[flaw].racy


@dataclass(frozen=True)
class Plan:
    """What each job runs: its scenarios once, then ``repeated`` ones up to ``repeat``."""

    scenarios: dict[str, list[str]]
    """Job (a flaw, or ``baseline``) → scenario ids, in catalog order."""
    repeated: dict[str, list[str]]
    """Job → scenario ids run ``repeat`` times in all (racy flaws and the baseline)."""


def plan(flaws: Sequence[str], scenario_ids: Sequence[str], *, named_only: bool) -> Plan:
    """Every job's scenarios. A flaw with nothing to run (``named_only``, none of its
    scenarios chosen) gets no job at all: its verdict is ``not_run``."""
    chosen = [s for s in select() if s.id in scenario_ids]
    race = [s.id for s in chosen if RACE_TAG in s.tags]
    scenarios: dict[str, list[str]] = {}
    repeated: dict[str, list[str]] = {}
    for flaw in flaws:
        mine = [s.id for s in chosen if not named_only or s.id in CAUGHT_BY[flaw]]
        if not mine:
            continue
        scenarios[flaw] = mine
        if is_racy(flaw):  # only what its rate counts: its named scenarios
            repeated[flaw] = [s for s in mine if s in CAUGHT_BY[flaw]]
    used = {s for ids in scenarios.values() for s in ids}
    base = [s.id for s in chosen if not named_only or s.id in used]
    scenarios = {BASELINE: base, **scenarios}
    again = {s for ids in repeated.values() for s in ids} | set(race)
    repeated[BASELINE] = [s for s in scenarios[BASELINE] if s in again]
    return Plan(scenarios, {k: v for k, v in repeated.items() if v})


# -- one flaw, in a worker process ------------------------------------------------------------


def run_flaw_job(
    flaw: str,
    scenario_ids: list[str],
    repeat_ids: list[str],
    repeat: int,
    report_dir: str,
    browser: bool,
) -> JobResult:
    """Run the scenarios against one fresh stack with ``flaw`` on (``baseline``: none):
    every scenario once, and the ``repeat_ids`` ``repeat`` times in all, in one
    :meth:`Runner.run`, so they share the stack the way ``nodouble run`` schedules them
    (runs that arm provider faults or kill the target alone, the others side by side).
    """
    started = time.monotonic()
    scenarios = {s.id: s for s in select() if s.id in scenario_ids}
    ordered = [scenarios[i] for i in scenario_ids if i in scenarios]
    workdir = Path(tempfile.mkdtemp(prefix=f"nodouble-flaw-{flaw}-"))
    out = Path(report_dir)
    unavailable: dict[str, str] = {}
    if browser and any("browser" in s.needs for s in ordered):
        lookup = find_chromium()
        if not lookup.found:
            unavailable["browser"] = f"no Chromium could be found ({lookup.explain()})"
            unavailable["browser_spa"] = unavailable["browser"]
    runs: list[ScenarioRun] = []
    chromium: str | None = None
    try:
        live = open_target(
            load_profile(REFERENCE_PROFILE), workdir, flaw=None if flaw == BASELINE else flaw
        )
    except Exception as exc:
        return JobResult(flaw, [], time.monotonic() - started, error=f"cannot start: {exc}")
    runner = Runner(live, out, RunOptions(), unavailable=unavailable)
    times = {s.id: repeat if s.id in repeat_ids else 1 for s in ordered}
    try:
        runs = runner.run(ordered, times=times).runs
    finally:
        chromium = runner.close()
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if flaw != BASELINE:
        shutil.rmtree(out / "artifacts", ignore_errors=True)  # keep only the evidence
    dumped = [_slim(run, keep_history=flaw == BASELINE) for run in runs]
    return JobResult(flaw, dumped, time.monotonic() - started, chromium)


def _slim(run: ScenarioRun, *, keep_history: bool) -> dict[str, Any]:
    if keep_history:
        return run.model_dump(mode="json")
    return run.model_copy(update={"history": [], "screenshots": []}).model_dump(mode="json")


# -- the matrix ------------------------------------------------------------------------------

Expected = Mapping[str, Mapping[str, Sequence[str]]]


def caught_here(run: ScenarioRun, invariants: Sequence[str]) -> list[str]:
    """The named invariants this run found violated (``valid is False``), in run order."""
    return [c.name for c in run.checks if c.valid is False and c.name in invariants]


def _found_something(run: ScenarioRun) -> bool:
    """Failed, or violated an invariant the gate does not count (hygiene, when not gated)."""
    return run.status == "failed" or bool(run.violated)


def _cell(runs: Sequence[ScenarioRun], invariants: Sequence[str]) -> Cell:
    """One flaw and one scenario, over its repeats; ``invariants``: those named there."""
    if not runs:
        return "n/a"
    if any(caught_here(r, invariants) for r in runs):
        return "caught"
    if any(_found_something(r) for r in runs):
        return "unrelated"
    statuses = {r.status for r in runs}
    if "error" in statuses:
        return "error"
    if statuses == {"not_applicable"}:
        return "n/a"
    return "passed"


def _evidence(sid: str, runs: Sequence[ScenarioRun], invariants: Sequence[str]) -> FlawEvidence:
    """What the first telling run of a scenario found: a catch, else a failure, else why
    it broke."""
    for run in runs:
        named = caught_here(run, invariants)
        if named:
            violated = [c for c in run.violated if c.name in named]
            return _evidence_of(sid, run, violated, "caught")
    for run in runs:
        if _found_something(run):
            return _evidence_of(sid, run, run.violated, "unrelated")
    broken = next(r for r in runs if r.status == "error")
    return FlawEvidence(scenario=sid, violated=[], message=broken.reason or "", cell="error")


def _evidence_of(
    sid: str, run: ScenarioRun, violated: list[CheckOutcome], cell: Cell
) -> FlawEvidence:
    return FlawEvidence(
        scenario=sid,
        violated=[c.name for c in violated],
        message="; ".join(c.message for c in violated),
        first=violated[0].first if violated else None,
        cell=cell,
    )


def build_matrix(
    results: dict[str, list[ScenarioRun]],
    flaws: list[str],
    scenario_ids: list[str],
    *,
    wall: dict[str, float],
    command: str,
    expected: Expected | None = None,
) -> FlawMatrix:
    """The matrix of ``results`` (job → runs); ``expected`` defaults to :data:`CAUGHT_BY`."""
    named = CAUGHT_BY if expected is None else expected
    baseline_runs = results.get(BASELINE, [])
    baseline: dict[str, Any] = {}
    for sid in scenario_ids:
        mine = [r for r in baseline_runs if r.scenario_id == sid]
        statuses = {"failed" if _found_something(r) else r.status for r in mine}
        for status in ("error", "failed", "not_applicable", "passed"):
            if status in statuses:
                baseline[sid] = status
                break
        else:
            baseline[sid] = "error"
    cells: dict[str, dict[str, Cell]] = {}
    rates: dict[str, FlawRate] = {}
    evidence: dict[str, list[FlawEvidence]] = {}
    for flaw in flaws:
        runs = results.get(flaw, [])
        wanted = named.get(flaw, {})
        cells[flaw] = {}
        evidence[flaw] = []
        for sid in scenario_ids:
            mine = [r for r in runs if r.scenario_id == sid]
            cell = _cell(mine, wanted.get(sid, ()))
            if cell == "n/a":
                continue  # a missing cell reads as n/a
            cells[flaw][sid] = cell
            if cell in ("caught", "unrelated") or (cell == "error" and sid in wanted):
                evidence[flaw].append(_evidence(sid, mine, wanted.get(sid, ())))
        if is_racy(flaw):
            rates[flaw] = _rate(runs, wanted)
    matrix = FlawMatrix(
        flaws=flaws,
        scenarios=scenario_ids,
        cells=cells,
        baseline=baseline,
        guards={f: registry.FLAWS[f].guard for f in flaws},
        racy=[f for f in flaws if is_racy(f)],
        rates=rates,
        evidence=evidence,
        wall_s={k: round(v, 1) for k, v in wall.items()},
        command=command,
        expected={f: {s: list(i) for s, i in named.get(f, {}).items()} for f in flaws},
    )
    matrix.verdicts = {f: matrix.verdict(f) for f in flaws}
    return matrix


def _rate(runs: list[ScenarioRun], wanted: Mapping[str, Sequence[str]]) -> FlawRate:
    """Caught repeats over repeats, over the named scenarios that ran (``--repeat 1``: one
    repeat): a repeat catches the flaw if a named invariant was violated in one of them."""
    repeated = sorted({r.scenario_id for r in runs if r.scenario_id in wanted})
    per: dict[str, list[int]] = {}
    by_repeat: dict[int, bool] = {}
    for run in runs:
        if run.scenario_id not in repeated:
            continue
        caught = bool(caught_here(run, wanted[run.scenario_id]))
        tally = per.setdefault(run.scenario_id, [0, 0])
        tally[0] += int(caught)
        tally[1] += 1
        by_repeat[run.repeat] = by_repeat.get(run.repeat, False) or caught
    return FlawRate(
        caught=sum(by_repeat.values()),
        runs=len(by_repeat),
        scenarios=repeated,
        per_scenario=per,
    )


# -- driving it all ---------------------------------------------------------------------------

Notify = Callable[[JobResult], None]


def run_matrix(
    options: FlawOptions, report_dir: Path, *, command: str = "", notify: Notify | None = None
) -> RunReport:
    """Run the baseline and every chosen flaw; the report carries the flaw matrix."""
    flaws = check_options(options)
    scenario_ids = [s.id for s in chosen_scenarios(options)]
    jobs = plan(flaws, scenario_ids, named_only=options.named_only)
    started = datetime.now(UTC)
    results: dict[str, list[ScenarioRun]] = {}
    wall: dict[str, float] = {}
    errors: dict[str, str] = {}
    chromium: str | None = None
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context) as pool:
        futures = {
            pool.submit(
                run_flaw_job, job, ids, jobs.repeated.get(job, []), options.repeat,
                str(report_dir if job == BASELINE else report_dir / "flaws" / job),
                options.browser,
            ): job
            for job, ids in jobs.scenarios.items()
        }  # fmt: skip
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a worker that died: its flaw is not caught
                result = JobResult(job, [], 0.0, error=f"{type(exc).__name__}: {exc}")
            results[job] = [ScenarioRun.model_validate(r) for r in result.runs]
            wall[job] = result.wall_s
            chromium = chromium or result.chromium
            if result.error:
                errors[job] = result.error
            if notify is not None:
                notify(result)
    matrix = build_matrix(results, flaws, scenario_ids, wall=wall, command=command)
    extra = {"flaw_errors": "; ".join(f"{k}: {v}" for k, v in errors.items())} if errors else {}
    return RunReport(
        tool_version=__version__,
        started=started,
        finished=datetime.now(UTC),
        target=ReportTarget(name="reference (flaw matrix)", base_url="embedded"),
        environment=Environment(
            python=sys.version.split()[0],
            platform=platform.platform(),
            chromium=chromium,
            extra={"jobs": str(options.jobs), "repeat": str(options.repeat), **extra},
        ),
        runs=results.get(BASELINE, []),
        flaw_matrix=matrix,
        threats=threat_catalog(),
    )


# -- the command -------------------------------------------------------------------------------


def execute(options: FlawOptions, report_root: Path, console: Any, err: Any) -> int:
    """``nodouble flaws``: run, write the reports, print the matrix; 0 only if it holds."""
    from rich.markup import escape

    from harness.reports import write_reports

    try:
        flaws = check_options(options)
        scenarios = chosen_scenarios(options)
    except FlawsUsageError as exc:
        err.print(f"[bold red]nodouble:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = report_root / f"flaws-{stamp}"
    report_dir.mkdir(parents=True, exist_ok=True)
    command = "nodouble flaws" + "".join(f" --flaw {f}" for f in options.flaws)
    if options.pattern:
        command += f" --scenario '{options.pattern}'"
    if options.named_only:
        command += " --named-only"
    command += f" --repeat {options.repeat} --jobs {options.jobs}"
    console.print(
        f"flaw matrix: baseline + {len(flaws)} flaw(s) x {len(scenarios)} scenario(s)"
        + (" (each flaw: only its named scenarios)" if options.named_only else "")
        + f", racy flaws repeated {options.repeat}x, {options.jobs} worker(s)"
    )
    clock = time.monotonic()

    def notify(result: JobResult) -> None:
        failed = sorted(
            {
                r["scenario_id"]
                for r in result.runs
                if r["status"] == "failed" or any(c["valid"] is False for c in r["checks"])
            }
        )
        note = (
            f"error: {result.error}" if result.error else f"violations in {len(failed)} scenario(s)"
        )
        console.print(f"  {result.flaw:34} {result.wall_s:6.1f}s  {escape(note)}")

    report = run_matrix(options, report_dir, command=command, notify=notify)
    elapsed = time.monotonic() - clock
    paths = write_reports(report, report_dir)
    matrix = report.flaw_matrix
    assert matrix is not None
    print_matrix(console, matrix)
    console.print(
        f"wall time {elapsed:.0f}s; report: {paths['html']}  "
        "(also report.json, junit.xml, history.jsonl)"
    )
    return 0 if matrix.gate() else 1


VERDICT_WORDS: dict[FlawVerdict, str] = {
    "caught": "caught",
    "caught_too_rarely": "CAUGHT TOO RARELY",
    "caught_unrelated": "CAUGHT UNRELATED (does not count)",
    "not_caught": "NOT CAUGHT",
    "not_run": "NOT RUN (none of its scenarios ran)",
}


def print_matrix(console: Any, matrix: FlawMatrix) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("flaw", "caught by", "catch rate", "verdict", title="flaw matrix")
    base = "passed" if matrix.baseline_passed() else "FAILED"
    bad = [s for s, v in matrix.baseline.items() if v not in ("passed", "not_applicable")]
    table.add_row("(baseline: no flaw)", ", ".join(bad) or "-", "", base)
    for flaw in matrix.flaws:
        rate = matrix.rates.get(flaw)
        shown = f"{rate.caught}/{rate.runs}" if rate else ""
        caught = matrix.caught_by(flaw)
        verdict = matrix.verdict(flaw)
        if caught:
            where = f"{len(caught)}: " + ", ".join(caught)
        else:
            where = "; ".join(
                f"{e.scenario}: {', '.join(e.violated) or e.message}"
                for e in matrix.evidence.get(flaw, [])
            )
        table.add_row(flaw, escape(where[:100] or "-"), shown, VERDICT_WORDS[verdict])
    console.print(table)
    total = sum(1 for f in matrix.flaws if matrix.flaw_caught(f))
    unrelated = [f for f in matrix.flaws if matrix.verdict(f) == "caught_unrelated"]
    console.print(
        f"baseline {base}; {total}/{len(matrix.flaws)} flaw(s) caught"
        + (f"; caught only by unrelated failures: {', '.join(unrelated)}" if unrelated else "")
        + "".join(f"; {f} {r.caught}/{r.runs}" for f, r in matrix.rates.items())
    )
