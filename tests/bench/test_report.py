"""Verdicts, the headline line, the markdown summary and the charts, from fixed figures."""

from __future__ import annotations

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
        "overhead": BenchResult("overhead", figures={"overhead_ratio": 0.91},
                                goals=[Goal("overhead", 0.91, 0.7, "min", "x")]),
        "replay": BenchResult("replay", figures={"replay_ratio": 1.5},
                              goals=[Goal("replay", 1.5, 1.3, "max", "x")]),
        "storm": BenchResult("storm", figures={"max_charges": 1}),
        "harness_speed": BenchResult("harness_speed", figures={"api": {"wall_s": 21.5}}),
    }  # fmt: skip


def test_headline_names_every_figure_and_says_na_for_the_missing() -> None:
    line = _report.headline(_results())
    assert line == (
        "overhead_ratio=0.91 replay_ratio=1.5 storm_charges=1 harness_api_s=21.5 "
        "harness_browser_s=n/a"
    )
    assert _report.headline({}).count("n/a") == 5


def test_table_rows_mark_missed_goals() -> None:
    rows = _report.goal_rows(_results())
    assert ("overhead", "0.91x", ">= 0.7x", "met") in rows
    assert ("replay", "1.5x", "<= 1.3x", "MISSED") in rows


def test_write_puts_json_and_markdown(tmp_path: Path) -> None:
    results = _results()
    results["storm"].invariants["one charge: N=10 one_key"] = False
    paths = _report.write(tmp_path, results, datetime.now(UTC), "nodouble bench", {})
    text = paths["markdown"].read_text()
    assert "**BROKEN**" in text
    assert _report.headline(results) in text
    assert '"headline"' in paths["json"].read_text()


def test_charts_are_png_files(tmp_path: Path) -> None:
    storm = {"workers": 2, "storms": [
        {"n": n, "mode": m, "p50_ms": 10.0 * n, "p99_ms": 20.0 * n}
        for n in (10, 20) for m in ("one_key", "n_keys")]}  # fmt: skip
    overhead = {"reference_per_s": 90.0, "flaw_per_s": 100.0}
    drawn = _charts.draw("storm", storm, tmp_path) + _charts.draw("overhead", overhead, tmp_path)
    assert [p.name for p in drawn] == ["storm.png", "overhead.png"]
    for path in drawn:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _charts.draw("multi", {}, tmp_path) == []
