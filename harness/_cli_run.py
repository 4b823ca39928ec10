"""``nodouble run`` (and ``demo``): start or reach the target, run, report, gate.

Kept apart from :mod:`harness.cli` so the command-line layer stays a thin shell.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness._preflight import SetupError, check_provider
from harness.browser import find_chromium
from harness.profile import ProfileError, TargetProfile, load_profile
from harness.reports import RunReport, write_reports
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
    jobs: int = 4,
    race_repeat: int = 3,
    gate_hygiene: bool = False,
) -> int:
    try:
        profile = load_profile(target or REFERENCE_PROFILE)
    except ProfileError as exc:
        return _say(err, str(exc), 2)
    chosen = select(pattern, tags)
    if not browser:
        chosen = tuple(s for s in chosen if "browser" not in s.needs)
    if not chosen:
        return _say(err, f"--scenario/--tag matched no scenario ({pattern!r})", 2)
    unavailable: dict[str, str] = {}
    if any("browser" in s.needs for s in chosen):
        lookup = find_chromium()
        if not lookup.found:
            unavailable["browser"] = f"no Chromium could be found ({lookup.explain()})"
            unavailable["browser_spa"] = unavailable["browser"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = report_root / stamp  # made once the target is up: no empty report folders
    workdir = Path(tempfile.mkdtemp(prefix="nodouble-"))
    live = _open(profile, workdir, database_url, err)
    if live is None:
        return 2
    try:
        check_provider(live.provider_url)
    except SetupError as exc:
        live.stop()
        return _say(err, str(exc), 2)
    report_dir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"target [bold]{profile.name}[/] at {live.base_url}  provider {live.provider_url}"
    )
    gate: tuple[Severity, ...] = tuple(profile.gate)
    if gate_hygiene and "hygiene" not in gate:
        gate = (*gate, "hygiene")
    options = RunOptions(repeat=repeat, seed=seed, jobs=jobs, race_repeat=race_repeat, gate=gate)
    runner = Runner(live, report_dir, options, unavailable=unavailable)
    total = sum(repeat * (race_repeat if "race" in s.tags else 1) for s in chosen)
    try:
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
    finally:
        live.stop()
    if target is not None:  # the reproduce commands name the profile the user gave
        named = result.target.model_copy(update={"profile": str(target)})
        result = result.model_copy(update={"target": named})
    paths = write_reports(result, report_dir)
    _print_summary(console, result)
    console.print(f"report: {paths['html']}  (also report.json, junit.xml, history.jsonl)")
    return exit_code(result)


def _open(
    profile: TargetProfile, workdir: Path, database_url: str | None, err: Console
) -> Target | None:
    """The live target, or ``None`` after one line on why it never came up and the tail of
    its log."""
    try:
        return open_target(profile, workdir, database_url=database_url)
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
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        unavailable = [r for r in result.runs if r.status == "not_applicable" and
                       (r.reason or "").startswith("no Chromium")]  # fmt: skip
        if unavailable:
            return 1
    if not applicable or result.unattributed:
        return 1
    bad = [r for r in applicable if r.status != "passed"]
    if any(r.status == "error" or r.failure != "hygiene" for r in bad):
        return 1
    return 3 if bad else 0


def _print_summary(console: Console, result: RunReport) -> None:
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

    try:
        profile = load_profile(target or REFERENCE_PROFILE)
    except ProfileError as exc:
        return _say(err, str(exc), 2)
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
    failed = [c for c in checks if c.outcome != "ok"]
    console.print(f"{len(checks) - len(failed)}/{len(checks)} checks passed", highlight=False)
    return 2 if failed else 0
