"""Scale: 10,000 orders with 3 duplicate confirms each through the harness's load mode
(:mod:`harness.load`), on PostgreSQL with several uvicorn workers.

Invariants: no order charged twice, every order the checkout called paid has its one
charge. Figures: throughput, and the peak resident memory (``VmHWM``) of the app and of
the provider processes, each to stay under 300 MB.
"""

from __future__ import annotations

from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import pg_stack, server_peak_rss
from harness.load import LoadOptions, run_load
from harness.profile import load_profile
from harness.target import REFERENCE_PROFILE

MEMORY_GOAL_MB = 300.0


def run(ctx: BenchContext) -> BenchResult:
    options = LoadOptions(orders=ctx.size(10_000, 30), duplicates=3, concurrency=ctx.size(32, 4))
    result = BenchResult("scale", figures={"workers": ctx.workers, "database": "postgresql"})
    profile = load_profile(REFERENCE_PROFILE)
    with pg_stack(ctx.postgres_admin_url, ctx.workdir / "scale", workers=ctx.workers) as stack:
        load = run_load(profile, stack.app_url, stack.provider.url, options)
        app_memory = server_peak_rss(stack.apps[0])
        provider_memory = server_peak_rss(stack.provider)
    figures = load.to_json()
    result.figures.update(
        load=figures,
        app_memory=app_memory,
        provider_memory=provider_memory,
        duplicates=options.duplicates,
        concurrency=options.concurrency,
    )
    result.invariants["0 double charges"] = not load.double_charged
    result.invariants["every paid order has its one charge"] = not load.paid_without_charge
    result.invariants["every order settled"] = (
        load.unsettled == 0 and not load.errors and load.orders == options.orders
    )
    result.invariants["every order paid"] = load.paid == options.orders
    result.goals += [
        Goal("scale: requests per second", figures["requests_per_s"], None, "min", "/s"),
        Goal(
            "peak RSS of one app process", app_memory["max_process_mb"], MEMORY_GOAL_MB, "max", "MB"
        ),
        Goal(
            "peak RSS of the provider",
            provider_memory["max_process_mb"],
            MEMORY_GOAL_MB,
            "max",
            "MB",
        ),
    ]
    return result
