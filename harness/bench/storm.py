"""Duplicate storm: N confirms of one order released together, on PostgreSQL with several
uvicorn workers; once with one Idempotency-Key, once with N different keys.

Invariant: exactly one charge per storm. Figures: p50/p99 latency of the confirms and the
time to drain the storm divided by the time to drain N ``GET /healthz`` released the same
way against the same server in the same run (the cost of the guard next to the cost of
just answering N connections).
"""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

from fake_provider.client import FakeProviderClient
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import CONFIRM_BODY, Shopper, pg_stack
from harness.bench._stats import latency_summary, ratio
from harness.drivers.api import ApiDriver, RequestSpec
from harness.history import History

MODES = ("one_key", "n_keys")


def timed_burst(
    driver: ApiDriver, n: int, spec_for: Any
) -> tuple[list[float], float, Counter[int]]:
    """Release ``n`` requests together; latencies (s), drain time (s), statuses seen."""
    driver.history = History()
    driver.burst(n, spec_for)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    first, last = None, 0
    for invoke, done in driver.history.pairs():
        first = invoke.time_ns if first is None else min(first, invoke.time_ns)
        if done is None:
            continue
        last = max(last, done.time_ns)
        latencies.append((done.time_ns - invoke.time_ns) / 1e9)
        response = done.value.get("response")
        statuses[response["status"] if response else 0] += 1
    return latencies, (last - (first or 0)) / 1e9, statuses


def storm_once(shopper: Shopper, provider_url: str, n: int, mode: str) -> dict[str, Any]:
    order_id = shopper.create_order()
    key = "storm-" + secrets.token_hex(8)
    path = f"/api/orders/{order_id}/confirm"

    def confirm(i: int) -> RequestSpec:
        k = key if mode == "one_key" else f"{key}-{i}"
        return RequestSpec("confirm", "POST", path, json=CONFIRM_BODY, order_id=order_id, key=k)

    def healthz(_i: int) -> RequestSpec:
        return RequestSpec("healthz", "GET", "/healthz")

    with ApiDriver(shopper.base_url, History(), cookies=shopper.cookies, timeout=120) as driver:
        latencies, drain, statuses = timed_burst(driver, n, confirm)
        _, health_drain, _ = timed_burst(driver, n, healthz)
    with FakeProviderClient(provider_url) as fake:
        charges = len(fake.charges(order_id))
    return {
        "n": n,
        "mode": mode,
        "order_id": order_id,
        "charges": charges,
        **latency_summary(latencies),
        "drain_s": round(drain, 4),
        "healthz_drain_s": round(health_drain, 4),
        "drain_ratio": ratio(drain, health_drain),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "answered": sum(statuses.values()) - statuses[0],
    }


def run(ctx: BenchContext) -> BenchResult:
    sizes: tuple[int, ...] = ctx.size((100, 500, 1000), (10, 25))
    result = BenchResult("storm", figures={"workers": ctx.workers, "database": "postgresql"})
    storms: list[dict[str, Any]] = []
    workdir = ctx.workdir / "storm"
    with (
        pg_stack(ctx.postgres_admin_url, workdir, workers=ctx.workers) as stack,
        Shopper(stack.app_url) as shopper,
    ):
        for n in sizes:
            for mode in MODES:
                storms.append(storm_once(shopper, stack.provider.url, n, mode))
    result.figures["storms"] = storms
    result.figures["max_charges"] = max(s["charges"] for s in storms)
    for s in storms:
        result.invariants[f"one charge: N={s['n']} {s['mode']}"] = s["charges"] == 1
        result.invariants[f"every confirm answered: N={s['n']} {s['mode']}"] = (
            s["answered"] == s["n"]
        )
    biggest = max(sizes)
    for s in storms:
        if s["n"] == biggest:
            result.goals.append(
                Goal(
                    f"storm drain / healthz drain (N={biggest}, {s['mode']})",
                    s["drain_ratio"],
                    None,
                    unit="x",
                )
            )
    return result
