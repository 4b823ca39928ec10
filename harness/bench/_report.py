"""Write a bench run: ``results.json``, ``summary.md`` and the PNG charts, and the
console table and headline line."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.bench._model import BenchResult


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return f"{value:.3g}" if isinstance(value, float) and abs(value) < 10 else f"{value:.1f}"


@dataclass
class Load:
    """The machine's load average (1, 5, 15 min) when the run started and ended, and
    around each benchmark: timings taken on a busy machine must say so."""

    start: tuple[float, float, float]
    end: tuple[float, float, float] | None = None
    per_benchmark: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )
    cores: int = field(default_factory=lambda: os.cpu_count() or 0)

    @classmethod
    def now(cls) -> Load:
        return cls(os.getloadavg())

    def describe(self) -> str:
        end = "-" if self.end is None else _triple(self.end)
        return (
            f"load average (1/5/15 min): start {_triple(self.start)}, end {end}; {self.cores} cores"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cores": self.cores,
            "start": list(self.start),
            "end": None if self.end is None else list(self.end),
            "per_benchmark": {
                name: {"start": list(before), "end": list(after)}
                for name, (before, after) in self.per_benchmark.items()
            },
        }


def _triple(load: tuple[float, ...]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def headline(results: dict[str, BenchResult]) -> str:
    """The one line CI logs end with: the six headline figures (``n/a`` when not run)."""

    def figure(bench: str, *path: str) -> Any:
        result = results.get(bench)
        if result is None or result.error:
            return None
        current: Any = result.figures
        for part in path:
            if not isinstance(current, dict) or part not in current:
                return None
            current = current[part]
        return current

    def show(value: Any) -> str:
        return "n/a" if value is None else str(value)

    return (
        f"catalog_s={show(figure('harness_speed', 'catalog_s'))} "
        f"catalog_api_s={show(figure('harness_speed', 'catalog_api_s'))} "
        f"flaws_s={show(figure('flaws', 'wall_s'))} "
        f"replay_ratio={show(figure('replay', 'replay_ratio'))} "
        f"overhead_ratio={show(figure('overhead', 'overhead_ratio'))} "
        f"added_p50_ms={show(figure('overhead', 'added_p50_ms'))}"
    )


def goal_rows(results: dict[str, BenchResult]) -> list[tuple[str, str, str, str]]:
    rows = []
    for result in results.values():
        for goal in result.goals:
            sign = ">=" if goal.direction == "min" else "<="
            target = "-" if goal.goal is None else f"{sign} {goal.goal:g}{goal.unit}"
            verdict = {True: "met", False: "MISSED", None: "(figure)"}[goal.met]
            rows.append((goal.name, f"{_fmt(goal.value)}{goal.unit}", target, verdict))
    return rows


def print_table(console: Console, results: dict[str, BenchResult]) -> None:
    table = Table("figure", "measured", "goal", "verdict", title="nodouble bench")
    for row in goal_rows(results):
        style = "bold red" if row[3] == "MISSED" else ""
        table.add_row(*row, style=style)
    console.print(table)
    for result in results.values():
        broken = [name for name, held in result.invariants.items() if not held]
        if result.error:
            console.print(f"[bold red]{result.name}: could not run: {result.error}[/]")
        elif broken:
            console.print(f"[bold red]{result.name}: invariant broken: {'; '.join(broken)}[/]")
        else:
            console.print(f"{result.name}: {len(result.invariants)} invariants held")


def markdown(results: dict[str, BenchResult], started: datetime, command: str, load: Load) -> str:
    lines = [
        f"# nodouble bench, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {load.describe()}.",
        "",
        "| figure | measured | goal | verdict |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(row)} |" for row in goal_rows(results)]
    lines += ["", "## Invariants", ""]
    for result in results.values():
        if result.error:
            lines.append(f"- **{result.name}**: could not run: {result.error}")
        for name, held in result.invariants.items():
            lines.append(f"- {result.name}: {name}: {'held' if held else '**BROKEN**'}")
    charts = [p for r in results.values() for p in r.charts]
    if charts:
        lines += ["", "## Charts", ""] + [f"![{p.stem}]({p.name})" for p in charts]
    lines += ["", "```", headline(results), "```", ""]
    return "\n".join(lines)


def write(
    directory: Path,
    results: dict[str, BenchResult],
    started: datetime,
    command: str,
    options: dict[str, Any],
    load: Load,
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "started": started.isoformat(),
        "command": command,
        "options": options,
        "load": load.to_json(),
        "headline": headline(results),
        "results": {name: r.to_json() for name, r in results.items()},
    }
    paths = {"json": directory / "results.json", "markdown": directory / "summary.md"}
    paths["json"].write_text(json.dumps(data, indent=2, default=str) + "\n")
    paths["markdown"].write_text(markdown(results, started, command, load))
    return paths
