"""``nodouble bench --quick``: a tiny real run of every benchmark, against real servers on
loopback and a scratch PostgreSQL database, proving the code works and the invariants
(one charge per storm, no double charge under load) hold. No timing is asserted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from harness import bench
from harness.bench import BenchOptions, BenchResult, execute
from harness.cli import app

POSTGRES_ADMIN_URL = os.environ.get(
    "NODOUBLE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_or_skip() -> None:
    from harness._testing import missing
    from harness.bench._stack import BenchSetupError, scratch_database

    try:
        with scratch_database(POSTGRES_ADMIN_URL):
            pass
    except BenchSetupError as exc:
        missing("PostgreSQL", str(exc))


def _run(tmp_path: Path, *only: str) -> tuple[int, dict[str, object], str]:
    _postgres_or_skip()
    out = Console(file=open(tmp_path / "out.txt", "w"), width=200)  # noqa: SIM115
    options = BenchOptions(quick=True, report_root=tmp_path / "reports", only=only,
                           postgres_admin_url=POSTGRES_ADMIN_URL)  # fmt: skip
    code = execute(options, out, out)
    out.file.close()
    [report] = (tmp_path / "reports").iterdir()
    data = json.loads((report / "results.json").read_text())
    return code, data, (tmp_path / "out.txt").read_text()


def _invariants(data: dict[str, object], name: str) -> dict[str, bool]:
    results = data["results"]
    assert isinstance(results, dict)
    assert results[name]["error"] is None, results[name]["error"]
    invariants: dict[str, bool] = results[name]["invariants"]
    assert invariants, f"{name} checked nothing"
    return invariants


@pytest.mark.postgres
@pytest.mark.slow
def test_storm_replay_and_multi_instance_end_in_one_charge(tmp_path: Path) -> None:
    code, data, out = _run(tmp_path, "storm", "replay", "multi")
    for name in ("storm", "replay", "multi"):
        assert all(_invariants(data, name).values()), _invariants(data, name)
    storms = data["results"]["storm"]["figures"]["storms"]  # type: ignore[index]
    assert [(s["n"], s["mode"]) for s in storms] == [
        (10, "one_key"), (10, "n_keys"), (25, "one_key"), (25, "n_keys")]  # fmt: skip
    assert all(s["charges"] == 1 and s["answered"] == s["n"] for s in storms)
    multi = data["results"]["multi"]["figures"]["storms"]  # type: ignore[index]
    assert all(s["per_instance"] == [5, 5] and s["charges"] == 1 for s in multi)
    replay = data["results"]["replay"]["figures"]  # type: ignore[index]
    assert replay["replay_ratio"] == max(
        replay[d]["replay_ratio"] for d in ("sqlite", "postgresql")
    )
    assert all(replay[d]["charges"] == 1 for d in ("sqlite", "postgresql"))
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[-1].startswith("catalog_s=n/a catalog_api_s=n/a flaws_s=n/a replay_ratio=")
    assert lines[-1].endswith(" overhead_ratio=n/a added_p50_ms=n/a")
    assert lines[-2].startswith("load average (1/5/15 min): start ")
    assert data["load"]["end"] is not None and set(data["load"]["per_benchmark"]) == {
        "storm", "replay", "multi"}  # fmt: skip
    assert len(list((tmp_path / "reports").glob("*/storm.png"))) == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_overhead_scale_locust_and_harness_speed_work(tmp_path: Path) -> None:
    code, data, out = _run(tmp_path, "scale", "distributed", "harness_speed")
    for name in ("scale", "distributed", "harness_speed"):
        assert all(_invariants(data, name).values()), _invariants(data, name)
    results = data["results"]
    assert isinstance(results, dict)
    load = results["scale"]["figures"]["load"]
    assert load["orders"] == 30 and load["double_charged_count"] == 0 and load["paid"] == 30
    assert load["statuses"].get("409", 0) + load["statuses"]["200"] >= 90  # duplicates sent
    ledger = results["distributed"]["figures"]["ledger"]
    assert ledger["over_charged"] == 0 and ledger["charges"] == ledger["orders"] > 0
    assert code == 0
    api = results["harness_speed"]["figures"]["api"]["wall_s"]
    assert out.strip().splitlines()[-1].startswith(f"catalog_s=n/a catalog_api_s={api} ")


@pytest.mark.postgres
@pytest.mark.slow
def test_overhead_compares_with_an_unguarded_confirm_and_the_flaw_matrix_holds(
    tmp_path: Path,
) -> None:
    code, data, out = _run(tmp_path, "overhead", "flaws")
    for name in ("overhead", "flaws"):
        assert all(_invariants(data, name).values()), _invariants(data, name)
    results = data["results"]
    assert isinstance(results, dict)
    overhead = results["overhead"]["figures"]
    cells = {(c["database"], c["latency_ms"]): c for c in overhead["cells"]}
    assert set(cells) == {(d, ms) for d in ("sqlite", "postgresql") for ms in (0, 300)}
    for cell in cells.values():
        assert cell["every_confirm_paid"] == {"reference": True, "unguarded": True}
        assert cell["latency"]["reference"]["n"] == cell["latency"]["unguarded"]["n"] > 0
    slow = cells[("postgresql", 300)]["latency"]["unguarded"]["p50_ms"]
    assert slow >= 300  # the provider's latency was really there
    assert overhead["added_p50_ms"] == cells[("postgresql", 300)]["added_p50_ms"]
    assert results["flaws"]["figures"]["verdicts"] == {"no_idempotency": "caught"}
    assert results["flaws"]["figures"]["baseline_passed"] is True
    assert code == 0
    flaws_s = results["flaws"]["figures"]["wall_s"]
    ratio = overhead["overhead_ratio"]
    assert f" flaws_s={flaws_s} " in out and f" overhead_ratio={ratio} added_p50_ms=" in out


def test_the_bench_knows_the_unguarded_route_by_its_real_path() -> None:
    from harness.bench._stack import UNGUARDED_PATH
    from reference_app import unguarded

    assert UNGUARDED_PATH == unguarded.PATH


def test_a_broken_invariant_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def charged_twice(ctx: bench.BenchContext) -> BenchResult:
        return BenchResult("fake", figures={"max_charges": 2}, invariants={"one charge": False})

    monkeypatch.setattr(bench, "BENCHMARKS", {"fake": charged_twice})
    out = Console(file=open(tmp_path / "out.txt", "w"), width=200)  # noqa: SIM115
    code = execute(BenchOptions(report_root=tmp_path), out, out)
    out.file.close()
    assert code == 1
    assert "invariant broken: one charge" in (tmp_path / "out.txt").read_text()


def test_a_benchmark_that_raises_is_reported_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(ctx: bench.BenchContext) -> BenchResult:
        raise RuntimeError("server went away")

    monkeypatch.setattr(bench, "BENCHMARKS", {"broken": broken})
    out = Console(file=open(tmp_path / "out.txt", "w"), width=200)  # noqa: SIM115
    assert execute(BenchOptions(report_root=tmp_path), out, out) == 1
    out.file.close()
    assert "could not run: RuntimeError: server went away" in (tmp_path / "out.txt").read_text()
    assert "Traceback" not in capsys.readouterr().err
    assert list(tmp_path.glob("*/broken-error.txt"))


def test_cli_refuses_an_unknown_benchmark(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--only", "nope", "--report-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "'nope' is not a benchmark" in result.output
    assert "storm" in result.output
