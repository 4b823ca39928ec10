"""PNG charts of the figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def storm(figures: dict[str, Any], path: Path) -> Path:
    storms = figures["storms"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for mode, marker in (("one_key", "o"), ("n_keys", "s")):
        rows = [s for s in storms if s["mode"] == mode]
        ns = [s["n"] for s in rows]
        ax.plot(ns, [s["p50_ms"] for s in rows], marker=marker, label=f"p50 {mode}")
        ax.plot(ns, [s["p99_ms"] for s in rows], marker=marker, linestyle="--", label=f"p99 {mode}")
    ax.set_xlabel("confirms released together (N)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Duplicate storm: one charge each ({figures['workers']} uvicorn workers, PG)")
    ax.legend()
    return _save(fig, path)


def bars(
    title: str,
    labels: list[str],
    values: list[float],
    unit: str,
    path: Path,
    goal: float | None = None,
) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    drawn = ax.bar(
        labels, values, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(values)]
    )
    ax.bar_label(drawn, fmt="%.1f")
    if goal is not None:
        ax.axhline(goal, color="red", linestyle=":", label=f"limit {goal:g} {unit}")
        ax.legend()
    ax.set_ylabel(unit)
    ax.set_title(title)
    return _save(fig, path)


def harness_speed(figures: dict[str, Any], path: Path) -> Path:
    runs = [
        (f"{g}: {r['id']}", r["duration_s"])
        for g in ("api", "browser")
        for r in figures.get(g, {}).get("runs", [])
        if r["status"] != "not_applicable"
    ]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.25 * len(runs) + 1)))
    ax.barh([name for name, _ in runs], [d for _, d in runs], color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlabel("seconds (per scenario, inside the runner)")
    totals = ", ".join(
        f"{g} {figures[g]['wall_s']:.1f} s" for g in ("api", "browser") if g in figures
    )
    ax.set_title(f"Harness speed, wall time: {totals}")
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)


def draw(name: str, figures: dict[str, Any], directory: Path) -> list[Path]:
    """The charts of one benchmark's figures (none for a benchmark without one)."""
    path = directory / f"{name}.png"
    if name == "storm":
        return [storm(figures, path)]
    if name == "overhead":
        cells = figures["cells"]
        return [
            bars(
                "Added p50 of the guard (ms)",
                [f"{c['database']} {c['latency_ms']} ms" for c in cells],
                [c["added_p50_ms"] for c in cells],
                "ms",
                path,
                goal=5,
            )
        ]
    if name == "replay":
        databases = [d for d in ("sqlite", "postgresql") if d in figures]
        return [
            bars(
                "p50 latency: replayed confirm vs GET order",
                [f"{label} ({d})" for d in databases for label in ("replay", "GET")],
                [figures[d][k]["p50_ms"] for d in databases for k in ("replay", "read")],
                "ms",
                path,
            )
        ]
    if name == "harness_speed":
        return [harness_speed(figures, path)]
    if name == "scale":
        return [
            bars(
                "Peak RSS (VmHWM) during the scale run",
                ["app (largest process)", "provider"],
                [
                    figures["app_memory"]["max_process_mb"],
                    figures["provider_memory"]["max_process_mb"],
                ],
                "MB",
                path,
                goal=300,
            )
        ]
    return []
