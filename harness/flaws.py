"""``nodouble flaws``: prove the harness can fail. The flaw matrix.

The catalog is run against the reference checkout with no flaw (the baseline: every
scenario must pass) and then once per deliberate flaw (``reference_app/flaws.py``), each
on a fresh embedded stack (its own provider, checkout process and SQLite file). A flaw is
*caught* by a scenario when that scenario fails, i.e. a checker found a violated
invariant in what the flawed checkout did; the harness is never told which flaw is on.

Racy flaws show only when requests interleave. Their catching scenarios (the ``race``
tagged ones and any that caught the flaw in the full pass) are repeated ``repeat`` times
in all; a repeat catches the flaw if any of them failed, and the flaw must be caught in
at least 95 % of the repeats (19 of 20). The baseline repeats the same race scenarios,
so a catch is never a false alarm the correct checkout would raise too.

Flaws run in parallel worker processes (``jobs``), one stack and one Chromium each.
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
from harness.reports._model import Cell, FlawEvidence, FlawRate
from harness.runner import Runner, RunOptions
from harness.target import REFERENCE_PROFILE, open_target
from reference_app import flaws as registry
from scenarios import Scenario, select

BASELINE = "baseline"
DEFAULT_REPEAT = 20
RACE_TAG = "race"


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
    """The scenarios matching ``pattern``: one glob, or several separated by commas."""
    globs = [g.strip() for g in (options.pattern or "").split(",") if g.strip()]
    chosen = (
        select()
        if not globs
        else tuple(s for s in select() if any(fnmatch.fnmatchcase(s.id, g) for g in globs))
    )
    if not options.browser:
        chosen = tuple(s for s in chosen if "browser" not in s.needs)
    if not chosen:
        raise FlawsUsageError(f"--scenario {options.pattern!r} matched no scenario")
    return chosen


def is_racy(flaw: str) -> bool:
    return flaw in registry.FLAWS and registry.FLAWS[flaw].racy


# -- one flaw, in a worker process ------------------------------------------------------------


def run_flaw_job(
    flaw: str, scenario_ids: list[str], repeat: int, report_dir: str, browser: bool
) -> JobResult:
    """Run the scenarios against a fresh stack with ``flaw`` on (``baseline``: none).

    Pass 0 runs every scenario once. Then the race scenarios (and, for a racy flaw, every
    scenario that caught it in pass 0) run again until each has ``repeat`` runs.
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
    try:
        for scenario in ordered:
            runs.append(runner.run_one(scenario, 0))
        if flaw == BASELINE or is_racy(flaw):
            again = [s for s in ordered if RACE_TAG in s.tags]
            if flaw != BASELINE:
                caught = {r.scenario_id for r in runs if r.status == "failed"}
                again += [s for s in ordered if s.id in caught and s not in again]
            for n in range(1, repeat):
                for scenario in again:
                    runs.append(runner.run_one(scenario, n))
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


def _cell(runs: Sequence[ScenarioRun]) -> Cell:
    statuses = {r.status for r in runs}
    if "failed" in statuses:
        return "caught"
    if "error" in statuses:
        return "error"
    if statuses == {"not_applicable"}:
        return "n/a"
    return "passed"


def build_matrix(
    results: dict[str, list[ScenarioRun]],
    flaws: list[str],
    scenario_ids: list[str],
    *,
    wall: dict[str, float],
    command: str,
) -> FlawMatrix:
    baseline_runs = results.get(BASELINE, [])
    baseline: dict[str, Any] = {}
    for sid in scenario_ids:
        mine = [r for r in baseline_runs if r.scenario_id == sid]
        statuses = {r.status for r in mine}
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
        cells[flaw] = {
            sid: _cell([r for r in runs if r.scenario_id == sid]) for sid in scenario_ids
        }
        evidence[flaw] = []
        for sid in scenario_ids:
            failed = [r for r in runs if r.scenario_id == sid and r.status == "failed"]
            if failed:
                first = failed[0]
                violated = first.violated
                evidence[flaw].append(
                    FlawEvidence(
                        scenario=sid,
                        violated=[c.name for c in violated],
                        message="; ".join(c.message for c in violated),
                        first=violated[0].first if violated else None,
                    )
                )
        if is_racy(flaw):
            rates[flaw] = _rate(runs)
    return FlawMatrix(
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
    )


def _rate(runs: list[ScenarioRun]) -> FlawRate:
    """Caught repeats over repeats, for the scenarios that were repeated."""
    repeated = sorted({r.scenario_id for r in runs if r.repeat > 0})
    per: dict[str, list[int]] = {}
    by_repeat: dict[int, bool] = {}
    for run in runs:
        if run.scenario_id not in repeated:
            continue
        caught = run.status == "failed"
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
    started = datetime.now(UTC)
    jobs = [BASELINE, *flaws]
    results: dict[str, list[ScenarioRun]] = {}
    wall: dict[str, float] = {}
    errors: dict[str, str] = {}
    chromium: str | None = None
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=options.jobs, mp_context=context) as pool:
        futures = {
            pool.submit(
                run_flaw_job, job, scenario_ids, options.repeat,
                str(report_dir if job == BASELINE else report_dir / "flaws" / job),
                options.browser,
            ): job
            for job in jobs
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
    command += f" --repeat {options.repeat} --jobs {options.jobs}"
    console.print(
        f"flaw matrix: baseline + {len(flaws)} flaw(s) x {len(scenarios)} scenario(s), "
        f"racy flaws repeated {options.repeat}x, {options.jobs} worker(s)"
    )
    clock = time.monotonic()

    def notify(result: JobResult) -> None:
        failed = sorted({r["scenario_id"] for r in result.runs if r["status"] == "failed"})
        note = f"error: {result.error}" if result.error else f"failed: {len(failed)} scenario(s)"
        console.print(f"  {result.flaw:34} {result.wall_s:6.1f}s  {escape(note)}")

    report = run_matrix(options, report_dir, command=command, notify=notify)
    elapsed = time.monotonic() - clock
    paths = write_reports(report, report_dir)
    matrix = report.flaw_matrix
    assert matrix is not None
    print_matrix(console, matrix)
    console.print(
        f"wall time {elapsed:.0f}s; report: {paths['html']}  (also report.json, junit.xml)"
    )
    return 0 if matrix.gate() else 1


def print_matrix(console: Any, matrix: FlawMatrix) -> None:
    from rich.table import Table

    table = Table("flaw", "caught by", "catch rate", "verdict", title="flaw matrix")
    base = "passed" if matrix.baseline_passed() else "FAILED"
    bad = [s for s, v in matrix.baseline.items() if v not in ("passed", "not_applicable")]
    table.add_row("(baseline: no flaw)", ", ".join(bad) or "-", "", base)
    for flaw in matrix.flaws:
        rate = matrix.rates.get(flaw)
        shown = f"{rate.caught}/{rate.runs}" if rate else ""
        caught = matrix.caught_by(flaw)
        verdict = "caught" if matrix.flaw_caught(flaw) else "NOT CAUGHT"
        table.add_row(flaw, f"{len(caught)}: " + ", ".join(caught)[:80], shown, verdict)
    console.print(table)
    total = sum(1 for f in matrix.flaws if matrix.flaw_caught(f))
    console.print(
        f"baseline {base}; {total}/{len(matrix.flaws)} flaw(s) caught"
        + "".join(f"; {f} {r.caught}/{r.runs}" for f, r in matrix.rates.items())
    )
