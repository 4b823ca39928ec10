"""``nodouble bench``: benchmarks showing that dedupe is cheap, that a storm of duplicates
ends in one charge, and that the harness is fast enough for CI.

One module per benchmark, each ``run(ctx) -> BenchResult``:

- ``storm``: N confirms of one order released together (one key; N keys), several uvicorn
  workers on PostgreSQL: one charge each; p50/p99; drain time / N ``GET /healthz``;
- ``overhead``: a first-time confirm, reference vs a confirm with no guard at all, on
  SQLite and PostgreSQL at 0 and 300 ms provider latency: throughput ratio, added p50;
- ``replay``: p50 of a replayed confirm / p50 of ``GET /api/orders/{id}``, SQLite and PG;
- ``harness_speed``: the catalog's wall time through the runner, API and browser groups;
- ``flaws``: the wall time of the flaw matrix at ``--repeat 20``, which must hold;
- ``scale``: 10,000 orders x 3 duplicate confirms through the load mode; memory;
- ``distributed``: the Locust locustfile with one master and two workers, ledger check;
- ``multi``: two app instances on one database, duplicates split across both.

A benchmark is a measurement, not a test: its goals are reported (met or missed), while
its invariants (charge counts) must hold. Exit code: 0 when every invariant held, 1 when
one broke or a benchmark could not run, 2 for bad usage. Loads go to loopback only and
are bounded in count and time. The machine's load average is read before and after each
benchmark and reported with the figures: a timing taken on a busy machine says so.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from harness.bench import (
    _charts,
    _report,
    distributed,
    flaw_matrix,
    harness_speed,
    multi,
    overhead,
    replay,
    scale,
    storm,
)
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import BenchSetupError

__all__ = ["BENCHMARKS", "BenchContext", "BenchOptions", "BenchResult", "Goal", "execute"]

BENCHMARKS: dict[str, Callable[[BenchContext], BenchResult]] = {
    "storm": storm.run,
    "overhead": overhead.run,
    "replay": replay.run,
    "multi": multi.run,
    "scale": scale.run,
    "distributed": distributed.run,
    "harness_speed": harness_speed.run,
    "flaws": flaw_matrix.run,
}
"""Every benchmark, in the order a full run goes through them."""

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    report_root: Path = Path("reports/bench")
    only: tuple[str, ...] = ()
    postgres_admin_url: str = field(
        default_factory=lambda: os.environ.get("NODOUBLE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )

    def chosen(self) -> list[str]:
        unknown = [name for name in self.only if name not in BENCHMARKS]
        if unknown:
            raise ValueError(
                f"--only {unknown[0]!r} is not a benchmark; choose from {', '.join(BENCHMARKS)}"
            )
        return [name for name in BENCHMARKS if not self.only or name in self.only]


def execute(options: BenchOptions, console: Console, err: Console) -> int:
    try:
        names = options.chosen()
    except ValueError as exc:
        err.print(f"[bold red]nodouble:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    started = datetime.now(UTC)
    report_dir = options.report_root / started.strftime("%Y%m%dT%H%M%SZ")
    report_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="nodouble-bench-"))
    ctx = BenchContext(options.quick, report_dir, workdir, options.postgres_admin_url)
    results: dict[str, BenchResult] = {}
    load = _report.Load.now()
    for name in names:
        console.print(f"[bold]bench {name}[/] ({'quick' if options.quick else 'full'}) ...")
        before = os.getloadavg()
        results[name] = _run_one(name, ctx)
        load.per_benchmark[name] = (before, os.getloadavg())
        result = results[name]
        if result.error is None:
            result.charts = _charts.draw(name, result.figures, report_dir)
    command = (
        "nodouble bench"
        + (" --quick" if options.quick else "")
        + "".join(f" --only {n}" for n in options.only)
    )
    load.end = os.getloadavg()
    paths = _report.write(
        report_dir, results, started, command, {"quick": options.quick, "only": list(options.only)},
        load,
    )  # fmt: skip
    _report.print_table(console, results)
    console.print(f"report: {paths['markdown']}  (results.json and charts alongside)")
    console.print(load.describe(), highlight=False, soft_wrap=True)
    shutil.rmtree(workdir, ignore_errors=True)
    console.print(_report.headline(results), highlight=False, soft_wrap=True)
    return 0 if all(r.ok for r in results.values()) else 1


def _run_one(name: str, ctx: BenchContext) -> BenchResult:
    try:
        return BENCHMARKS[name](ctx)
    except BenchSetupError as exc:
        return BenchResult(name, error=str(exc))
    except Exception as exc:  # a benchmark that breaks is reported, never a stack trace
        (ctx.report_dir / f"{name}-error.txt").write_text(traceback.format_exc())
        first = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"bench {name} broke: {first} (traceback in {name}-error.txt)", file=sys.stderr)
        return BenchResult(name, error=first)
