"""Dedupe overhead: throughput of first-time confirms over distinct orders, the reference
design divided by the same checkout with the ``no_idempotency`` flaw, in the same run.

Both checkouts run side by side (own PostgreSQL database each, one shared fake provider
with no injected latency); rounds alternate between them so that drift of the machine
hits both alike, and the median round of each is compared. Goal: at least 0.7.
"""

from __future__ import annotations

import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fake_provider.client import FakeProviderClient
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import Shopper, pg_stack, start_provider
from harness.bench._stats import ratio

GOAL = 0.7
FLAW = "no_idempotency"


def confirm_throughput(base_url: str, orders_per_client: int, clients: int) -> dict[str, Any]:
    """``clients`` shoppers each confirm their own fresh orders once; confirms per second.

    Orders are created before the clock starts: only the confirms are timed.
    """
    shoppers = [Shopper(base_url) for _ in range(clients)]
    try:
        orders = [[s.create_order() for _ in range(orders_per_client)] for s in shoppers]

        def pay(i: int) -> list[int]:
            return [shoppers[i].confirm(o, secrets.token_hex(12)).status_code for o in orders[i]]

        with ThreadPoolExecutor(clients) as pool:
            started = time.perf_counter()
            statuses = [code for codes in pool.map(pay, range(clients)) for code in codes]
            elapsed = time.perf_counter() - started
    finally:
        for s in shoppers:
            s.close()
    return {
        "confirms": len(statuses),
        "ok": statuses.count(200),
        "elapsed_s": round(elapsed, 3),
        "per_s": round(len(statuses) / elapsed, 1),
        "order_ids": [o for batch in orders for o in batch],
    }


def run(ctx: BenchContext) -> BenchResult:
    rounds: int = ctx.size(3, 1)
    per_client: int = ctx.size(40, 4)
    clients = 8
    result = BenchResult(
        "overhead", figures={"clients": clients, "orders_per_round": per_client * clients}
    )
    measured: dict[str, list[float]] = {"reference": [], FLAW: []}
    order_ids: list[str] = []
    workdir = ctx.workdir / "overhead"
    provider = start_provider(workdir)
    try:
        with (
            pg_stack(ctx.postgres_admin_url, workdir / "ref", provider=provider) as ref,
            pg_stack(ctx.postgres_admin_url, workdir / "flaw", flaw=FLAW, provider=provider) as bad,
        ):
            # one unmeasured round each warms connection pools and code paths
            confirm_throughput(ref.app_url, 2, clients)
            confirm_throughput(bad.app_url, 2, clients)
            for _ in range(rounds):
                for name, stack in (("reference", ref), (FLAW, bad)):
                    run_ = confirm_throughput(stack.app_url, per_client, clients)
                    measured[name].append(run_["per_s"])
                    if name == "reference":
                        order_ids.extend(run_["order_ids"])
                    result.invariants.setdefault(f"every confirm paid ({name})", True)
                    if run_["ok"] != run_["confirms"]:
                        result.invariants[f"every confirm paid ({name})"] = False
        with FakeProviderClient(provider.url) as fake:
            summary = fake.summary()
    finally:
        provider.stop()
    charges = {key: entry["charges"] for key, entry in summary["keys"].items()}
    result.invariants["reference: one charge per order"] = all(
        charges.get(o) == 1 for o in order_ids
    )
    ref_rate = statistics.median(measured["reference"])
    flaw_rate = statistics.median(measured[FLAW])
    result.figures.update(
        rounds=measured,
        reference_per_s=ref_rate,
        flaw_per_s=flaw_rate,
        overhead_ratio=ratio(ref_rate, flaw_rate),
    )
    result.goals.append(
        Goal(
            "dedupe overhead: reference / no_idempotency throughput",
            result.figures["overhead_ratio"],
            GOAL,
            "min",
            "x",
        )
    )
    return result
