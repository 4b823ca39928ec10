"""Distributed load on Locust: one master and two workers on loopback run the duplicate
storm of ``harness/load/locustfile.py`` for a bounded time against a PostgreSQL stack;
the master's ledger check at the end must find no order charged twice.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness._process import free_port
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import pg_stack
from harness.target import REFERENCE_PROFILE

LOCUSTFILE = Path(__file__).resolve().parent.parent / "load" / "locustfile.py"
LEDGER_LINE = "nodouble ledger check:"
WORKERS = 2


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def _stats(prefix: Path) -> dict[str, Any]:
    path = prefix.with_name(prefix.name + "_stats.csv")
    rows: dict[str, Any] = {}
    if not path.exists():
        return rows
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"] or 0),
                "p99_ms": float(row["99%"] or 0),
                "per_s": round(float(row["Requests/s"] or 0), 1),
            }
    return rows


def _ledger(output: str) -> dict[str, int]:
    for line in output.splitlines():
        if line.startswith(LEDGER_LINE) and "over_charged=" in line:
            pairs = (item.split("=", 1) for item in line.split() if "=" in item)
            return {k: int(v) for k, v in pairs if v.isdigit()}
    return {}


def run(ctx: BenchContext) -> BenchResult:
    seconds: int = ctx.size(30, 6)
    users: int = ctx.size(24, 4)
    workdir = ctx.workdir / "locust"
    result = BenchResult(
        "distributed", figures={"workers": WORKERS, "users": users, "run_time_s": seconds}
    )
    with pg_stack(ctx.postgres_admin_url, workdir, workers=ctx.workers) as stack:
        port = free_port()
        prefix = workdir / "locust"
        shared = [
            "--nodouble-profile",
            str(REFERENCE_PROFILE),
            "--provider-url",
            stack.provider.url,
            "--duplicates",
            "3",
        ]
        master_cmd = _locust(
            "--headless",
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(WORKERS),
            "--expect-workers-max-wait",
            "60",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--host",
            stack.app_url,
            "--csv",
            str(prefix),
            "--only-summary",
            *shared,
        )
        worker_cmd = _locust(
            "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *shared
        )
        master = subprocess.Popen(
            master_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=workdir
        )
        workers = [
            subprocess.Popen(
                worker_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir
            )
            for _ in range(WORKERS)
        ]
        try:
            output, _ = master.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            master.kill()
            output, _ = master.communicate()
            result.error = f"locust master did not finish within {seconds + 120}s"
        finally:
            for worker in workers:
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    (workdir / "master.log").write_text(output)
    stats = _stats(prefix)
    ledger = _ledger(output)
    result.figures.update(
        exit_code=master.returncode,
        stats=stats,
        ledger=ledger,
        master_log=str(workdir / "master.log"),
    )
    confirms = stats.get("confirm (duplicate)", {})
    result.invariants["ledger checked by the master"] = bool(ledger) and "role=master" in output
    result.invariants["no order charged twice"] = ledger.get("over_charged", 1) == 0
    result.invariants["locust exit code 0"] = master.returncode == 0
    result.invariants["confirms sent"] = confirms.get("requests", 0) > 0
    aggregated = stats.get("Aggregated", {})
    result.goals.append(
        Goal(
            "locust: requests per second (2 workers)",
            aggregated.get("per_s", 0.0),
            None,
            "min",
            "/s",
        )
    )
    return result
