"""Harness speed: wall time of the scenario catalog against the embedded default target,
per scenario and in total, through :class:`harness.runner.Runner` (the code behind
``nodouble run``), so whatever makes the runner faster shows up here.

Three timings, each on a target of its own: API, provider, webhook and process scenarios
(``catalog_api_s``, what ``nodouble run --no-browser`` runs; goal 15 s on a 2-core
machine), browser scenarios (goal 60 s), and the whole catalog in one run
(``catalog_s``, what ``nodouble run`` runs, browser runs beside API ones; goal 45 s).
Every applicable scenario must pass: a fast harness that reports failures on the
reference checkout proves nothing. It prints ``catalog_s=<s> catalog_api_s=<s>``
(``n/a`` for a timing not taken: ``--quick`` times two API scenarios only).
"""

from __future__ import annotations

import time
from typing import Any

from harness.bench._model import BenchContext, BenchResult, Goal
from harness.browser import find_chromium
from harness.profile import load_profile
from harness.runner import Runner
from harness.target import REFERENCE_PROFILE, open_target
from scenarios import Scenario, catalog

API_GOAL_S = 15.0
BROWSER_GOAL_S = 60.0
CATALOG_GOAL_S = 45.0
QUICK = ("api.same_key_sequential", "api.parallel_same_key")


def _groups(quick: bool) -> dict[str, tuple[Scenario, ...]]:
    everything = catalog()
    if quick:
        return {"api": tuple(s for s in everything if s.id in QUICK)}  # no catalog_s
    return {
        "api": tuple(s for s in everything if "browser" not in s.needs),
        "browser": tuple(s for s in everything if "browser" in s.needs),
        "catalog": everything,
    }


def time_group(ctx: BenchContext, name: str, scenarios: tuple[Scenario, ...]) -> dict[str, Any]:
    """Start the embedded target, run ``scenarios`` once through the Runner, time it all."""
    unavailable: dict[str, str] = {}
    if any("browser" in s.needs for s in scenarios):
        lookup = find_chromium()
        if not lookup.found:
            unavailable["browser"] = unavailable["browser_spa"] = lookup.explain()
    workdir = ctx.workdir / f"harness-{name}"
    started = time.perf_counter()
    target = open_target(load_profile(REFERENCE_PROFILE), workdir)
    try:
        runner = Runner(target, ctx.report_dir / "harness" / name, unavailable=unavailable)
        report = runner.run(scenarios)
    finally:
        target.stop()
    wall = time.perf_counter() - started
    runs = [
        {"id": r.scenario_id, "status": r.status, "duration_s": r.duration_s} for r in report.runs
    ]
    return {
        "scenarios": len(scenarios),
        "wall_s": round(wall, 2),
        "runs": runs,
        "ran": sum(r["status"] != "not_applicable" for r in runs),
        "not_passed": [
            f"{r['id']}: {r['status']}"
            for r in runs
            if r["status"] not in ("passed", "not_applicable")
        ],
        "skipped": [r["id"] for r in runs if r["status"] == "not_applicable"],
    }


def run(ctx: BenchContext) -> BenchResult:
    result = BenchResult("harness_speed")
    goals = {"api": API_GOAL_S, "browser": BROWSER_GOAL_S, "catalog": CATALOG_GOAL_S}
    for name, scenarios in _groups(ctx.quick).items():
        if not scenarios:
            continue
        group = time_group(ctx, name, scenarios)
        result.figures[name] = group
        result.invariants[f"{name}: every applicable scenario passed"] = not group["not_passed"]
        result.invariants[f"{name}: at least one scenario ran"] = group["ran"] > 0
        result.goals.append(
            Goal(
                f"harness wall time: {name} scenarios ({group['ran']})",
                group["wall_s"],
                goals[name],
                "max",
                "s",
            )
        )
    result.figures["catalog_s"] = result.figures.get("catalog", {}).get("wall_s")
    result.figures["catalog_api_s"] = result.figures.get("api", {}).get("wall_s")
    line = " ".join(f"{k}={_shown(result.figures[k])}" for k in ("catalog_s", "catalog_api_s"))
    print(line, flush=True)
    return result


def _shown(value: Any) -> str:
    return "n/a" if value is None else str(value)
