"""``nodouble run`` (and ``demo``): start or reach the target, run, report, gate.

Kept apart from :mod:`harness.cli` so the command-line layer stays a thin shell.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness._preflight import SetupError
from harness._schedule import DEFAULT_BROWSER_JOBS, DEFAULT_JOBS
from harness.browser import find_chromium
from harness.ledger_sources import open_source
from harness.ledger_sources._keys import read_test_key
from harness.profile import AUTO, ProfileError, TargetProfile, load_profile
from harness.reports import RunReport, write_reports
from harness.reports._story import NO_CHROMIUM, left_out_in_ci
from harness.runner import Runner, RunOptions
from harness.target import REFERENCE_PROFILE, Target, open_target
from harness.types import Severity
from scenarios import select

STYLE = {"passed": "green", "failed": "bold red", "error": "bold red", "not_applicable": "dim"}


def execute(
    *,
    target: Path | None,
    pattern: str | None,
    tags: tuple[str, ...],
    report_root: Path,
    repeat: int,
    seed: int | None,
    browser: bool,
    database_url: str | None,
    console: Console,
    err: Console,
    jobs: int = DEFAULT_JOBS,
    race_repeat: int = 3,
    gate_hygiene: bool = False,
    flaw: str | None = None,
    browser_jobs: int = DEFAULT_BROWSER_JOBS,
) -> int:
    profile = _load(target, err)
    if profile is None:
        return 2
    if flaw is not None:
        from reference_app import flaws

        if profile.base_url != AUTO:
            return _say(err, "--flaw seeds the embedded reference checkout only: drop --target "
                        "or use a profile with base_url = \"auto\"", 2)  # fmt: skip
        if flaw not in flaws.FLAWS:
            return _say(err, f"--flaw {flaw!r} is not one of {', '.join(flaws.names())}", 2)
    chosen = select(pattern, tags)
    if not browser:
        chosen = tuple(s for s in chosen if "browser" not in s.needs)
    if not chosen:
        return _say(err, f"--scenario/--tag matched no scenario ({pattern!r})", 2)
    unavailable: dict[str, str] = {}
    if any("browser" in s.needs for s in chosen):
        lookup = find_chromium()
        if not lookup.found:
            unavailable["browser"] = f"{NO_CHROMIUM} could be found ({lookup.explain()})"
            unavailable["browser_spa"] = unavailable["browser"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = scratch("nodouble-")
    live = _open(profile, workdir, database_url, err, flaw)
    if live is None:
        return 2
    source = open_source(live)
    try:
        source.check()
        _preflight(live, err)
        report_dir = new_run_dir(report_root, stamp)  # once the target is up: no empty folders
    except Exception as exc:  # a setup problem, or the checks themselves broke: one line
        source.close()
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        text = str(exc) if isinstance(exc, SetupError) else f"{type(exc).__name__}: {exc}"
        return _say(err, text.splitlines()[0] if text else type(exc).__name__, 2)
    console.print(
        f"target [bold]{profile.name}[/] at {live.base_url}  provider {live.provider_url}"
    )
    console.print(f"ledger: {escape(source.describe())}", highlight=False)
    gate: tuple[Severity, ...] = tuple(profile.gate)
    if gate_hygiene and "hygiene" not in gate:
        gate = (*gate, "hygiene")
    options = RunOptions(
        repeat=repeat, seed=seed, jobs=jobs, race_repeat=race_repeat, gate=gate,
        browser_jobs=browser_jobs,
        preflight=False,  # the doctor's checks above covered the provider and the account
    )  # fmt: skip
    runner = Runner(live, report_dir, options, unavailable=unavailable, source=source)
    total = sum(repeat * (race_repeat if "race" in s.tags else 1) for s in chosen)
    try:
        if plain(console):  # a CI log or a narrow terminal: one unwrapped line per run
            started, done = time.monotonic(), [0]

            def line(scenario_id: str) -> None:
                done[0] += 1
                elapsed = time.monotonic() - started
                print(f"[{done[0]}/{total} {elapsed:.0f}s] {scenario_id}", flush=True)

            result = runner.run(chosen, progress=line)
        else:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=console, transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task("running scenarios", total=total)

                def advance(scenario_id: str) -> None:
                    bar.update(task, advance=1, description=scenario_id)

                result = runner.run(chosen, progress=advance)
    except SetupError as exc:
        shutil.rmtree(report_dir, ignore_errors=True)
        return _say(err, str(exc), 2)
    finally:  # the target's scratch files (its logs, the embedded app's database) go too;
        # a target that never started keeps them, as its log is what the user reads next
        source.close()
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if target is not None:  # the reproduce commands name the profile the user gave
        named = result.target.model_copy(update={"profile": str(target)})
        result = result.model_copy(update={"target": named})
    extra = dict(result.environment.extra)
    if flaw is not None:  # a seeded run says so, and its reproduce commands seed it again
        extra["flaw"] = flaw
    if _in_ci():  # the gate is stricter there (exit_code); the report's verdict says so too
        extra["ci"] = "true"
    if extra != result.environment.extra:
        environment = result.environment.model_copy(update={"extra": extra})
        result = result.model_copy(update={"environment": environment})
    paths = write_reports(result, report_dir)
    _print_summary(console, result)
    console.print(
        f"report: {paths['html']}  (also report.json, junit.xml, history.jsonl)", soft_wrap=True
    )
    return exit_code(result)


def _preflight(live: Target, err: Console) -> None:
    """``nodouble doctor``'s checks before the first scenario: a failed one stops the run
    (:class:`SetupError`, exit 2) with one line per problem; an advisory one is printed."""
    from harness.doctor import diagnose, problems

    stopping, advisory = problems(diagnose(live))
    for check in advisory:
        err.print(f"nodouble: warning: {escape(check.line())}", highlight=False, soft_wrap=True)
    if stopping:
        for check in stopping[:-1]:
            _say(err, check.line(), 2)
        raise SetupError(stopping[-1].line())


def _load(target: Path | None, err: Console) -> TargetProfile | None:
    """The profile (the reference one by default), or ``None`` after one line on what is
    wrong with it; a Stripe ledger's key is checked here, before anything starts."""
    try:
        profile = load_profile(target or REFERENCE_PROFILE)
        if profile.provider.ledger == "stripe":
            read_test_key(profile.provider)  # a live key or a missing variable: refused here
    except ProfileError as exc:
        _say(err, str(exc), 2)
        return None
    return profile


def _open(
    profile: TargetProfile,
    workdir: Path,
    database_url: str | None,
    err: Console,
    flaw: str | None = None,
) -> Target | None:
    """The live target, or ``None`` after one line on why it never came up and the tail of
    its log."""
    try:
        return open_target(profile, workdir, database_url=database_url, flaw=flaw)
    except Exception as exc:
        first, *rest = f"cannot start the target: {exc}".splitlines()
        _say(err, first, 2)
        for line in rest[-20:]:
            err.print(escape(line), highlight=False, soft_wrap=True)
        return None


def _say(err: Console, message: str, code: int) -> int:
    """Print one line (never wrapped, never read as rich markup) and return ``code``."""
    err.print(f"[bold red]nodouble:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return code


def exit_code(result: RunReport) -> int:
    """The CI gate: 0 when every applicable scenario passed (at least one ran) and every
    ledger row was owned by a scenario; 1 on a money failure, an error or an unowned
    charge; 3 when the only failures are hygiene ones that the gate included."""
    applicable = [r for r in result.runs if r.status != "not_applicable"]
    if left_out_in_ci(result):
        return 1
    if not applicable or result.unattributed:
        return 1
    bad = [r for r in applicable if r.status != "passed"]
    if any(r.status == "error" or r.failure != "hygiene" for r in bad):
        return 1
    return 3 if bad else 0


def new_run_dir(root: Path, stamp: str) -> Path:
    """``root/<stamp>``, made now and the run's own: a run started in the same second
    (another CI job, say) already holding it gets ``<stamp>-2``, ``-3``..., so no run writes
    into, or on a setup error deletes, another run's reports."""
    if root.exists() and not root.is_dir():
        raise SetupError(f"--report-dir {root}: is a file, not a folder")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    return Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=root))


def scratch(prefix: str) -> Path:
    """A new private folder for the target's logs and the embedded app's database."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


PLAIN_BELOW = 100
"""Below this many columns tables wrap into unreadable cells: print plain lines instead."""


def plain(console: Console) -> bool:
    """Plain, unwrapped lines (no table, no live bar): not a terminal, or a narrow one."""
    return not console.is_terminal or console.width < PLAIN_BELOW


def _print_summary(console: Console, result: RunReport) -> None:
    if plain(console):
        for run in result.runs:
            name = run.scenario_id + (f"#{run.repeat}" if run.repeat else "")
            detail = f"  {run.reason}" if run.reason else ""
            print(f"{run.status:<14} {run.duration_s:6.1f}s  {name}{detail}")
    else:
        table = Table("scenario", "status", "time", "detail", title="nodouble run")
        for run in result.runs:
            name = run.scenario_id + (f" #{run.repeat}" if run.repeat else "")
            style = STYLE.get(run.status, "")
            table.add_row(name, f"[{style}]{run.status}[/]", f"{run.duration_s:.1f}s",
                          escape((run.reason or "")[:90]))  # fmt: skip
        console.print(table)
    s = result.summary()
    console.print(
        f"passed={s.passed} failed={s.failed} error={s.error} "
        f"not_applicable={s.not_applicable} charges={s.charges}"
    )
    hygiene = sorted({name for run in result.runs for name in run.hygiene})
    if hygiene:
        console.print(f"hygiene findings (reported, gated only on request): {', '.join(hygiene)}")
    if result.unattributed:
        ids = ", ".join(str(row.get("id")) for row in result.unattributed[:5])
        console.print(
            f"[bold red]{len(result.unattributed)} charge(s) no scenario owns[/] ({escape(ids)}): "
            "written after every scenario ended, under no order the harness created"
        )


def diagnose_target(
    target: Path | None, database_url: str | None, console: Console, err: Console
) -> int:
    """``nodouble doctor``: start or reach the target, print one line per check."""
    from harness.doctor import diagnose

    profile = _load(target, err)
    if profile is None:
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="nodouble-doctor-"))
    live = _open(profile, workdir, database_url, err)
    if live is None:
        return 2
    try:
        checks = diagnose(live)
    finally:
        live.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for check in checks:
        style = {"ok": "green", "fail": "bold red", "skip": "dim"}[check.outcome]
        console.print(f"[{style}]{escape(check.line())}[/]", highlight=False, soft_wrap=True)
    passed = [c for c in checks if c.outcome == "ok"]
    console.print(f"{len(passed)}/{len(checks)} checks passed", highlight=False)
    return 2 if any(c.outcome == "fail" for c in checks) else 0
