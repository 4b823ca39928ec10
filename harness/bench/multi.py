"""Multi-instance: two reference_app processes on separate ports share one PostgreSQL
database; a storm of duplicates, split evenly across both, ends in one charge.

The guard lives in the database (unique keys and row locks), not in a process's memory,
so it must hold across instances: run with one key and with N keys.
"""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Any

from fake_provider.client import FakeProviderClient
from harness.bench._model import BenchContext, BenchResult
from harness.bench._stack import CONFIRM_BODY, Shopper, pg_stack
from harness.bench.storm import MODES
from harness.drivers.api import ApiDriver, RequestSpec
from harness.history import History


def split_storm(
    urls: list[str], shopper: Shopper, provider_url: str, n: int, mode: str
) -> dict[str, Any]:
    order_id = shopper.create_order()
    key = "multi-" + secrets.token_hex(8)

    def confirm(i: int) -> RequestSpec:
        url = f"{urls[i % len(urls)]}/api/orders/{order_id}/confirm"  # absolute: instance i%2
        k = key if mode == "one_key" else f"{key}-{i}"
        return RequestSpec("confirm", "POST", url, json=CONFIRM_BODY, order_id=order_id, key=k)

    with ApiDriver(urls[0], History(), cookies=shopper.cookies, timeout=120) as driver:
        ops = driver.burst(n, confirm)
    answered: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for op in ops:
        response = op.value.get("response")
        statuses[response["status"] if response else 0] += 1
        if response:
            url = op.value["request"]["url"]
            answered[next(u for u in urls if url.startswith(u))] += 1
    with FakeProviderClient(provider_url) as fake:
        charges = len(fake.charges(order_id))
    return {
        "n": n,
        "mode": mode,
        "order_id": order_id,
        "charges": charges,
        "paid_answers": statuses[200],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "per_instance": [answered[u] for u in urls],
    }


def run(ctx: BenchContext) -> BenchResult:
    n: int = ctx.size(200, 10)
    result = BenchResult("multi", figures={"instances": 2, "database": "postgresql"})
    storms: list[dict[str, Any]] = []
    with pg_stack(ctx.postgres_admin_url, ctx.workdir / "multi", instances=2) as stack:
        urls = [app.url for app in stack.apps]
        result.figures["ports"] = [app.port for app in stack.apps]
        with Shopper(urls[0]) as shopper:
            for mode in MODES:
                storms.append(split_storm(urls, shopper, stack.provider.url, n, mode))
    result.figures["storms"] = storms
    for s in storms:
        result.invariants[f"one charge across 2 instances ({s['mode']})"] = s["charges"] == 1
        result.invariants[f"both instances answered ({s['mode']})"] = (
            min(s["per_instance"]) == n // 2
        )
    return result
