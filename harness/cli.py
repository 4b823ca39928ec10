"""The ``nodouble`` command line.

Each subcommand is a thin shell over a module, imported lazily so that ``--help`` stays
fast. Exit codes: 0 success, 1 a check failed (for ``run``: money lost or at risk, or a
verdict that could not be reached), 2 bad usage or setup (a message naming the option or
field, never a stack trace), 3 (``run``) only hygiene failures, with hygiene in the gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from harness._schedule import DEFAULT_BROWSER_JOBS, DEFAULT_JOBS

app = typer.Typer(
    name="nodouble",
    help="Prove that a checkout never charges a customer twice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
reference = typer.Typer(help="Operate the reference checkout.", no_args_is_help=True)
app.add_typer(reference, name="reference")
console = Console()
err = Console(stderr=True)


def usage_error(message: str) -> typer.Exit:
    """Print a one-line usage error and return the exit to raise (code 2)."""
    err.print(f"[bold red]nodouble:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


@app.command()
def provider(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="TCP port (0: any free port).", min=0, max=65535)
    ] = 12111,
    state: Annotated[
        Path | None,
        typer.Option(help="SQLite file that keeps the provider's state across restarts."),
    ] = None,
    key_ttl: Annotated[
        str,
        typer.Option(
            help="Seconds an idempotency key is remembered (move the fake's clock with "
            "POST /_fake/clock to expire keys without waiting)."
        ),
    ] = "86400",
    processing_ms: Annotated[
        str,
        typer.Option(
            help="Milliseconds a provider call that moves money takes; its idempotency key "
            "is in use meanwhile (same-key requests get 409 idempotency_key_in_use)."
        ),
    ] = "10",
) -> None:
    """Run the fake Stripe-compatible payment provider."""
    from fake_provider._provider import parse_processing_ms
    from fake_provider.server import run

    try:
        ttl = float(key_ttl)
    except ValueError:
        ttl = float("nan")
    if not 0 < ttl < float("inf"):
        raise usage_error(
            f"--key-ttl {key_ttl!r} is invalid: use a number of seconds above 0 (default 86400)"
        )
    try:
        processing = parse_processing_ms(processing_ms, "--processing-ms")
    except ValueError as exc:
        raise usage_error(f"{exc} (default 10)") from None
    run(host, port, str(state) if state else None, ttl, processing)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface for the checkout.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Checkout port.", min=1, max=65535)] = 8000,
    provider_port: Annotated[
        int, typer.Option(help="Port of the fake provider started alongside.", min=1, max=65535)
    ] = 12111,
    provider_url: Annotated[
        str | None, typer.Option(help="Use this running provider instead of starting one.")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (postgresql+psycopg://, mysql+pymysql://, sqlite:///)."),
    ] = None,
    flaw: Annotated[
        str | None, typer.Option(help="Remove one guard on purpose (see `nodouble flaws`).")
    ] = None,
) -> None:
    """Run the reference checkout and the fake provider together (try it by hand)."""
    import os

    from harness._process import ServerProcess
    from reference_app.config import ConfigError
    from reference_app.server import serve as serve_app

    started: ServerProcess | None = None
    if provider_url is None:
        started = ServerProcess(
            "fake_provider.app:create_app", host=host, port=provider_port
        ).start()
        provider_url = started.url
        console.print(f"fake provider   {provider_url}  (ledger: {provider_url}/_fake/summary)")
    if flaw:
        os.environ["NODOUBLE_FLAW"] = flaw
    try:
        serve_app(host, port, database_url, provider_url)
    except ConfigError as exc:
        raise usage_error(str(exc)) from None
    finally:
        if started is not None:
            started.stop()


@reference.command("reconcile")
def reference_reconcile(
    database_url: Annotated[str | None, typer.Option(help="The checkout's database.")] = None,
    provider_url: Annotated[str | None, typer.Option(help="The provider it pays through.")] = None,
) -> None:
    """Settle every PENDING payment once by asking the provider."""
    from reference_app.config import ConfigError
    from reference_app.server import reconcile_once, settings_with

    try:
        report = reconcile_once(settings_with(database_url, provider_url))
    except ConfigError as exc:
        raise usage_error(str(exc)) from None
    console.print(
        f"examined={report.examined} confirmed={report.confirmed} failed={report.failed} "
        f"still_pending={report.still_pending} errors={report.errors}"
    )
    raise typer.Exit(1 if report.errors else 0)


@app.command("scenarios")
def list_scenarios(
    tag: Annotated[list[str] | None, typer.Option(help="Only scenarios with this tag.")] = None,
) -> None:
    """List the scenario catalog."""
    from rich.table import Table

    from harness._cli_run import plain
    from scenarios import select

    chosen = select(None, tuple(tag or ()))
    if plain(console):  # narrow or piped: one line each, id first, never wrapped
        for scenario in chosen:
            needs = ",".join(sorted(scenario.needs))
            print(f"{scenario.id}  [{scenario.threat}; needs {needs}]  {scenario.title}")
        return
    table = Table("id", "threat", "needs", "title")
    table.columns[0].no_wrap = True
    for scenario in chosen:
        table.add_row(scenario.id, scenario.threat, ", ".join(sorted(scenario.needs)),
                      scenario.title)  # fmt: skip
    console.print(table)


@app.command()
def run(
    target: Annotated[
        Path | None, typer.Option(help="Target profile (TOML); default: the reference app.")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Only scenarios whose id matches this glob.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only scenarios with this tag.")] = None,
    report_dir: Annotated[
        Path,
        typer.Option(
            help="Parent folder of the run's reports: they go to DIR/<UTC timestamp>/ "
            "(report.html, report.json, junit.xml, history.jsonl) and DIR/latest points "
            "at the newest."
        ),
    ] = Path("reports"),
    repeat: Annotated[int, typer.Option(help="Run each scenario N times.", min=1)] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed recorded in the report.")] = None,
    browser: Annotated[bool, typer.Option(help="Run the browser scenarios.")] = True,
    database_url: Annotated[
        str | None, typer.Option(help="Database for the embedded reference app.")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="API and webhook scenario runs that may share the target at once; 1: every "
            "run one after another, browser ones too.",
            min=1,
        ),
    ] = DEFAULT_JOBS,
    browser_jobs: Annotated[
        int,
        typer.Option(
            help="Browser scenario runs that may overlap, each in browser contexts of its own "
            "in one Chromium (runs that arm provider faults or kill the target always run "
            "alone).",
            min=1,
        ),
    ] = DEFAULT_BROWSER_JOBS,
    race_repeat: Annotated[
        int, typer.Option(help="Run scenarios tagged 'race' N times as often.", min=1)
    ] = 3,
    flaw: Annotated[
        str | None,
        typer.Option(
            help="Seed the embedded reference checkout with one deliberate flaw (see "
            "nodouble flaws), to see what a failing run and its report look like.",
        ),
    ] = None,
    gate_hygiene: Annotated[
        bool,
        typer.Option(
            "--gate-hygiene",
            help="Fail on hygiene violations too (no-store, PRG, problem+json...); by default "
            "they are reported and only money failures fail the run.",
        ),
    ] = False,
) -> None:
    """Run the catalog against a checkout.

    Exit 0 when no money invariant was violated and every verdict was reached; 1 on a
    money failure, an error or an undecided verdict; 3 when only hygiene failed and the
    gate includes hygiene (--gate-hygiene or the profile's gate); 2 for bad usage or setup.
    """
    from harness._cli_run import execute

    code = execute(
        target=target, pattern=scenario, tags=tuple(tag or ()), report_root=report_dir,
        repeat=repeat, seed=seed, browser=browser, database_url=database_url,
        console=console, err=err, jobs=jobs, race_repeat=race_repeat,
        gate_hygiene=gate_hygiene, flaw=flaw, browser_jobs=browser_jobs,
    )  # fmt: skip
    raise typer.Exit(code)


@app.command()
def flaws(
    flaw: Annotated[
        list[str] | None, typer.Option(help="Only this flaw (repeatable); default: every flaw.")
    ] = None,
    repeat: Annotated[
        int, typer.Option(help="Runs of the scenarios that catch a racy flaw.", min=1)
    ] = 20,
    report_dir: Annotated[Path, typer.Option(help="Where reports/flaws-<timestamp>/ goes.")] = Path(
        "reports"
    ),
    scenario: Annotated[
        str | None,
        typer.Option(help="Only scenarios whose id matches this glob (several: comma-separated)."),
    ] = None,
    jobs: Annotated[int, typer.Option(help="Flaws run in parallel.", min=1)] = 2,
    browser: Annotated[bool, typer.Option(help="Run the browser scenarios.")] = True,
    named_only: Annotated[
        bool,
        typer.Option(
            "--named-only",
            help="Run each flaw only against the scenarios docs/flaws.md names for it.",
        ),
    ] = False,
) -> None:
    """Run the catalog against the reference app with each deliberate flaw: the flaw matrix."""
    from harness.flaws import FlawOptions, execute

    options = FlawOptions(
        flaws=list(flaw or ()), repeat=repeat, pattern=scenario, jobs=jobs, browser=browser,
        named_only=named_only,
    )  # fmt: skip
    raise typer.Exit(execute(options, report_dir, console, err))


@app.command()
def torture(
    database: Annotated[
        list[str] | None,
        typer.Option(
            help="postgresql, mariadb or sqlite (repeat for several).", show_default="postgresql"
        ),
    ] = None,
    section: Annotated[
        list[str] | None,
        typer.Option(help="crash, database, provider, webhooks, fuzz, access, lifecycle (repeat)."),
    ] = None,
    scale: Annotated[str, typer.Option(help="full (the figures of record) or quick.")] = "full",
    report_dir: Annotated[
        Path, typer.Option(help="Where <UTC timestamp>/torture.{json,md,html} goes.")
    ] = Path("reports/torture"),
) -> None:
    """Crash, database, provider, webhook, fuzz, access and key-lifecycle faults, with figures."""
    from harness.torture._run import TortureSetupError, known_sections
    from harness.torture._run import torture as run_torture

    databases = list(database or ["postgresql"])
    sections = list(section or known_sections())
    for name in databases:
        if name not in {"postgresql", "mariadb", "sqlite"}:
            raise usage_error(f"--database {name!r} is invalid: use postgresql, mariadb or sqlite")
    for name in sections:
        if name not in known_sections():
            raise usage_error(f"--section {name!r} is invalid: use {', '.join(known_sections())}")
    if scale not in {"full", "quick"}:
        raise usage_error(f"--scale {scale!r} is invalid: use full or quick")
    try:
        result, out = run_torture(databases, sections, scale, report_dir, console)
    except TortureSetupError as exc:
        raise usage_error(str(exc)) from None
    console.print(f"report: {out}")
    raise typer.Exit(0 if result.held else 1)


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="A report directory (with report.json).")],
    screenshots: Annotated[
        bool,
        typer.Option(
            "--screenshots",
            help="Also write first-screen.png (the page as it opens) and sequence.png (the "
            "first failing run's sequence diagram) into the directory, with Chromium.",
        ),
    ] = False,
) -> None:
    """Re-render report.html from a report.json."""
    from harness.reports import ReportError, render_html

    try:
        path = render_html(directory)
    except (ReportError, FileNotFoundError) as exc:
        raise usage_error(str(exc)) from None
    console.print(f"wrote {path}")
    if screenshots:
        from harness.browser import find_chromium
        from harness.reports._images import capture

        lookup = find_chromium()
        if not lookup.found:
            raise usage_error(f"--screenshots needs Chromium: {lookup.explain()}")
        for image in capture(path, lookup.executable):
            console.print(f"wrote {image}")


@app.command()
def doctor(
    target: Annotated[
        Path | None, typer.Option(help="Target profile (TOML); default: the reference app.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database for the embedded reference app.")
    ] = None,
) -> None:
    """Check a profile against the live checkout in seconds: one line per check, with the
    profile field to fix. Walks one real purchase (it shows in the provider's ledger).
    Exit 0 when every check passed, 2 otherwise."""
    from harness._cli_run import diagnose_target

    raise typer.Exit(diagnose_target(target, database_url, console, err))


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier run: a run directory or report.json.")],
    new: Annotated[Path, typer.Argument(help="The later run: a run directory or report.json.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
) -> None:
    """Compare two runs scenario by scenario; exit 1 on a regression (for CI).

    A regression: a scenario that passed now fails or cannot be judged, a hygiene failure
    turned into a money failure, a new scenario failing on money, more orders charged twice,
    or more ledger rows no scenario could own.
    """
    import json

    from harness.reports import ReportError
    from harness.reports._diff import diff as compare
    from harness.reports._diff import load, render

    try:
        result = compare(load(old), load(new))
    except ReportError as exc:
        raise usage_error(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for line in render(result):
            print(line)
    raise typer.Exit(1 if result.regressed else 0)


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option(help="Tiny sizes: proves the benchmarks work, measures nothing.")
    ] = False,
    report_dir: Annotated[Path, typer.Option(help="Where <timestamp>/ goes.")] = Path(
        "reports/bench"
    ),
    only: Annotated[
        list[str] | None, typer.Option(help="Only this benchmark (repeatable).")
    ] = None,
) -> None:
    """Benchmarks: dedupe overhead, replay cost, duplicate storms, scale, harness speed."""
    from harness.bench import BenchOptions, execute

    options = BenchOptions(quick=quick, report_root=report_dir, only=tuple(only or ()))
    raise typer.Exit(execute(options, console, err))


@app.command()
def demo() -> None:
    """Run the scenario catalog against the reference checkout and show the report."""
    from harness._cli_run import execute

    code = execute(
        target=None, pattern=None, tags=(), report_root=Path("reports"), repeat=1, seed=None,
        browser=True, database_url=None, console=console, err=err,
    )  # fmt: skip
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
