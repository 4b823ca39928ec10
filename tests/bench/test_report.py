"""Verdicts, the headline line, the markdown summary and the charts, from fixed figures."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from harness.bench import _charts, _report
from harness.bench._model import BenchResult, Goal


def test_goal_verdicts() -> None:
    assert Goal("a", 0.8, 0.7, "min").met is True
    assert Goal("a", 0.6, 0.7, "min").met is False
    assert Goal("b", 1.2, 1.3, "max").met is True
    assert Goal("b", 1.4, 1.3, "max").met is False
    assert Goal("c", 5.0, None).met is None
    assert Goal("d", math.nan, 1.0).met is None


def test_a_broken_invariant_or_an_error_is_not_ok() -> None:
    assert BenchResult("x", invariants={"one charge": True}).ok
    assert not BenchResult("x", invariants={"one charge": True, "other": False}).ok
    assert not BenchResult("x", error="PostgreSQL is not usable").ok


def _results() -> dict[str, BenchResult]:
    return {
        "overhead": BenchResult("overhead", figures={"overhead_ratio": 0.91, "added_p50_ms": 3.2},
                                goals=[Goal("overhead", 0.91, 0.7, "min", "x")]),
        "replay": BenchResult("replay", figures={"replay_ratio": 1.5},
                              goals=[Goal("replay", 1.5, 1.3, "max", "x")]),
        "storm": BenchResult("storm", figures={"max_charges": 1}),
        "harness_speed": BenchResult(
            "harness_speed", figures={"api": {"wall_s": 21.5}, "catalog_api_s": 21.5}
        ),
        "flaws": BenchResult("flaws", figures={"wall_s": 470.5}),
    }  # fmt: skip


def test_headline_names_every_figure_and_says_na_for_the_missing() -> None:
    results = _results()
    assert _report.headline(results) == (
        "catalog_s=n/a catalog_api_s=21.5 flaws_s=470.5 replay_ratio=1.5 overhead_ratio=0.91 "
        "added_p50_ms=3.2"
    )
    results["harness_speed"].figures["catalog_s"] = 38.5  # timed in one run, not a sum
    assert _report.headline(results).startswith("catalog_s=38.5 catalog_api_s=21.5 ")
    assert _report.headline({}).count("n/a") == 6
    results["flaws"].error = "could not run"
    assert " flaws_s=n/a " in _report.headline(results)


def test_load_is_read_and_described() -> None:
    load = _report.Load((1.5, 1.25, 1.0), end=(2.0, 1.5, 1.0), cores=2)
    load.per_benchmark["replay"] = ((1.5, 1.25, 1.0), (1.75, 1.25, 1.0))
    assert load.describe() == (
        "load average (1/5/15 min): start 1.50 1.25 1.00, end 2.00 1.50 1.00; 2 cores"
    )
    assert load.to_json()["per_benchmark"]["replay"]["end"] == [1.75, 1.25, 1.0]
    assert len(_report.Load.now().start) == 3


def test_table_rows_mark_missed_goals() -> None:
    rows = _report.goal_rows(_results())
    assert ("overhead", "0.91x", ">= 0.7x", "met") in rows
    assert ("replay", "1.5x", "<= 1.3x", "MISSED") in rows


def test_write_puts_json_and_markdown(tmp_path: Path) -> None:
    results = _results()
    results["storm"].invariants["one charge: N=10 one_key"] = False
    load = _report.Load((3.0, 2.0, 1.0), end=(4.0, 2.5, 1.0), cores=2)
    paths = _report.write(tmp_path, results, datetime.now(UTC), "nodouble bench", {}, load)
    text = paths["markdown"].read_text()
    assert "**BROKEN**" in text
    assert _report.headline(results) in text
    assert "Machine: load average (1/5/15 min): start 3.00 2.00 1.00, end 4.00 2.50 1.00" in text
    data = json.loads(paths["json"].read_text())
    assert data["headline"] == _report.headline(results)
    assert data["load"]["start"] == [3.0, 2.0, 1.0] and data["load"]["cores"] == 2


def test_charts_are_png_files(tmp_path: Path) -> None:
    storm = {"workers": 2, "storms": [
        {"n": n, "mode": m, "p50_ms": 10.0 * n, "p99_ms": 20.0 * n}
        for n in (10, 20) for m in ("one_key", "n_keys")]}  # fmt: skip
    overhead = {"cells": [{"database": d, "latency_ms": ms, "added_p50_ms": 2.5}
                          for d in ("sqlite", "postgresql") for ms in (0, 300)]}  # fmt: skip
    replay = {
        d: {"replay": {"p50_ms": 2.0}, "read": {"p50_ms": 2.5}} for d in ("sqlite", "postgresql")
    }
    drawn = (
        _charts.draw("storm", storm, tmp_path)
        + _charts.draw("overhead", overhead, tmp_path)
        + _charts.draw("replay", replay, tmp_path)
    )
    assert [p.name for p in drawn] == ["storm.png", "overhead.png", "replay.png"]
    for path in drawn:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _charts.draw("multi", {}, tmp_path) == []
