"""Replay cost: p50 of a replayed confirm divided by p50 of ``GET /api/orders/{id}`` (one
indexed read), measured interleaved against the same server in the same run. Goal: 1.3.

A replay must answer from the stored response without calling the provider again: every
repeat says ``Idempotent-Replayed: true`` and the order keeps exactly one charge.
"""

from __future__ import annotations

import secrets
import time

from fake_provider.client import FakeProviderClient
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import Shopper, pg_stack
from harness.bench._stats import latency_summary, ratio

GOAL = 1.3


def run(ctx: BenchContext) -> BenchResult:
    samples: int = ctx.size(500, 30)
    result = BenchResult("replay", figures={"samples": samples})
    replays: list[float] = []
    reads: list[float] = []
    replayed_flags: list[bool] = []
    statuses: set[int] = set()
    with (
        pg_stack(ctx.postgres_admin_url, ctx.workdir / "replay") as stack,
        Shopper(stack.app_url) as shopper,
    ):
        order_id = shopper.create_order()
        key = "replay-" + secrets.token_hex(8)
        first = shopper.confirm(order_id, key)
        result.invariants["first confirm paid"] = first.status_code == 200
        for _ in range(10):  # warm-up, not measured
            shopper.confirm(order_id, key)
            shopper.get_order(order_id)
        for _ in range(samples):
            started = time.perf_counter()
            response = shopper.confirm(order_id, key)
            replays.append(time.perf_counter() - started)
            statuses.add(response.status_code)
            replayed_flags.append(response.headers.get("idempotent-replayed") == "true")
            started = time.perf_counter()
            read = shopper.get_order(order_id)
            reads.append(time.perf_counter() - started)
            statuses.add(read.status_code)
        with FakeProviderClient(stack.provider.url) as fake:
            charges = len(fake.charges(order_id))
    result.invariants["every repeat replayed"] = all(replayed_flags)
    result.invariants["every answer 200"] = statuses == {200}
    result.invariants["one charge"] = charges == 1
    replay, read_ = latency_summary(replays), latency_summary(reads)
    result.figures.update(
        replay=replay,
        read=read_,
        charges=charges,
        replay_ratio=ratio(replay["p50_ms"], read_["p50_ms"]),
    )
    result.goals.append(
        Goal("replay p50 / GET order p50", result.figures["replay_ratio"], GOAL, "max", "x")
    )
    return result
