"""What a benchmark gets (a context) and gives back (a result with figures and goals)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Goal:
    """One measured figure set against its goal: ``value >= goal`` (min) or ``<=`` (max)."""

    name: str
    value: float
    goal: float | None
    direction: Direction = "max"
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None or math.isnan(self.value):
            return None
        return self.value >= self.goal if self.direction == "min" else self.value <= self.goal

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "goal": self.goal,
            "direction": self.direction,
            "unit": self.unit,
            "met": self.met,
        }


@dataclass
class BenchResult:
    """Figures of one benchmark; ``invariants`` must all hold (a broken one fails the run)."""

    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    invariants: dict[str, bool] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(self.invariants.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "error": self.error,
            "invariants": self.invariants,
            "goals": [g.to_json() for g in self.goals],
            "figures": self.figures,
            "charts": [p.name for p in self.charts],
        }


@dataclass(frozen=True)
class BenchContext:
    """Where and how big a benchmark runs."""

    quick: bool
    report_dir: Path
    workdir: Path
    postgres_admin_url: str
    workers: int = 2
    """uvicorn workers of the checkout in the storm and scale benchmarks."""

    def size(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full
