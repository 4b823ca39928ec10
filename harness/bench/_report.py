"""Write a bench run: ``results.json``, ``summary.md`` and the PNG charts, and the
console table and headline line."""

from __future__ import annotations

import json
import math
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


def headline(results: dict[str, BenchResult]) -> str:
    """The one line CI logs end with: the five headline figures (``n/a`` when not run)."""

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

    storm = figure("storm", "max_charges")
    return (
        f"overhead_ratio={show(figure('overhead', 'overhead_ratio'))} "
        f"replay_ratio={show(figure('replay', 'replay_ratio'))} "
        f"storm_charges={show(storm)} "
        f"harness_api_s={show(figure('harness_speed', 'api', 'wall_s'))} "
        f"harness_browser_s={show(figure('harness_speed', 'browser', 'wall_s'))}"
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


def markdown(results: dict[str, BenchResult], started: datetime, command: str) -> str:
    lines = [
        f"# nodouble bench, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}`",
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
) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "started": started.isoformat(),
        "command": command,
        "options": options,
        "headline": headline(results),
        "results": {name: r.to_json() for name, r in results.items()},
    }
    paths = {"json": directory / "results.json", "markdown": directory / "summary.md"}
    paths["json"].write_text(json.dumps(data, indent=2, default=str) + "\n")
    paths["markdown"].write_text(markdown(results, started, command))
    return paths
