"""Replay cost: p50 of a replayed confirm divided by p50 of ``GET /api/orders/{id}``, on
SQLite and on PostgreSQL, each pair measured interleaved against the same server in the
same run. Both requests carry the same session cookie through the same middleware, so the
ratio compares what each does behind its route. Goal: 1.1 on both databases.

A replay must answer from the stored response without calling the provider again: every
repeat says ``Idempotent-Replayed: true``, carries the first answer's exact bytes, and the
order keeps exactly one charge.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fake_provider.client import FakeProviderClient
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import Database, Shopper, app_stack
from harness.bench._stats import latency_summary, ratio

GOAL = 1.1
DATABASES: tuple[Database, ...] = ("sqlite", "postgresql")


def measure(ctx: BenchContext, database: Database, samples: int) -> dict[str, Any]:
    """One paid order on ``database``; ``samples`` replays and reads, alternated."""
    replays: list[float] = []
    reads: list[float] = []
    replayed: list[bool] = []
    same_bytes: list[bool] = []
    statuses: set[int] = set()
    workdir = ctx.workdir / f"replay-{database}"
    with (
        app_stack(database, ctx.postgres_admin_url, workdir) as stack,
        Shopper(stack.app_url) as shopper,
    ):
        order_id = shopper.create_order()
        key = "replay-" + secrets.token_hex(8)
        first = shopper.confirm(order_id, key)
        for _ in range(10):  # warm-up, not measured
            shopper.confirm(order_id, key)
            shopper.get_order(order_id)
        for _ in range(samples):
            started = time.perf_counter()
            response = shopper.confirm(order_id, key)
            replays.append(time.perf_counter() - started)
            statuses.add(response.status_code)
            replayed.append(response.headers.get("idempotent-replayed") == "true")
            same_bytes.append(response.content == first.content)
            started = time.perf_counter()
            read = shopper.get_order(order_id)
            reads.append(time.perf_counter() - started)
            statuses.add(read.status_code)
        with FakeProviderClient(stack.provider.url) as fake:
            charges = len(fake.charges(order_id))
    replay, read_ = latency_summary(replays), latency_summary(reads)
    return {
        "first_status": first.status_code,
        "every_repeat_replayed": all(replayed),
        "every_repeat_same_bytes": all(same_bytes),
        "statuses": sorted(statuses),
        "charges": charges,
        "replay": replay,
        "read": read_,
        "replay_ratio": ratio(replay["p50_ms"], read_["p50_ms"]),
    }


def run(ctx: BenchContext) -> BenchResult:
    samples: int = ctx.size(1000, 30)
    result = BenchResult("replay", figures={"samples": samples})
    for database in DATABASES:
        figures = measure(ctx, database, samples)
        result.figures[database] = figures
        result.invariants[f"{database}: first confirm paid"] = figures["first_status"] == 200
        result.invariants[f"{database}: every repeat replayed"] = figures["every_repeat_replayed"]
        result.invariants[f"{database}: every replay the first answer's bytes"] = figures[
            "every_repeat_same_bytes"
        ]
        result.invariants[f"{database}: every answer 200"] = figures["statuses"] == [200]
        result.invariants[f"{database}: one charge"] = figures["charges"] == 1
        result.goals.append(
            Goal(
                f"replay p50 / GET order p50 ({database})",
                figures["replay_ratio"],
                GOAL,
                "max",
                "x",
            )
        )
    # the headline figure: the worse of the two databases
    result.figures["replay_ratio"] = max(result.figures[d]["replay_ratio"] for d in DATABASES)
    return result
