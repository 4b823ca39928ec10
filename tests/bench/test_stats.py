"""The statistics the benchmarks use, on hand-made numbers."""

from __future__ import annotations

import math

import pytest

from harness.bench._stats import latency_summary, percentile, ratio


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(list(map(float, range(1, 101))), 99) == pytest.approx(99.01)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_latency_summary_in_milliseconds() -> None:
    summary = latency_summary([0.010, 0.020, 0.030])
    assert summary == {"n": 3, "p50_ms": 20.0, "p99_ms": 29.8, "max_ms": 30.0}


def test_ratio() -> None:
    assert ratio(3, 2) == 1.5
    assert math.isinf(ratio(1, 0))
