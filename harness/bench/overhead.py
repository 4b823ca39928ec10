"""Honest overhead: what the guard against double charges costs a first-time confirm.

One checkout process per database (SQLite, PostgreSQL) serves both the reference confirm
and, switched on by ``NODOUBLE_BENCH_UNGUARDED``, a confirm with no guard at all
(``reference_app/unguarded.py``: read the order, charge through the same provider client,
record the payment and mark the order paid; no key, no claim, no lock). Eight shoppers
confirm fresh orders once each (orders are created before the clock starts); rounds
alternate between the two confirms so that drift of the machine hits both alike. This is
done at two provider latencies, the fake's time for a call that moves money: 0 ms and
300 ms (about Stripe's typical confirm).

Then one shopper pays orders one at a time, the two confirms alternating request by
request, for the latency: eight shoppers at once queue behind each other on two cores, so
their latencies say more about that queue than about the work of one confirm (they are
kept in the figures as ``latency_8_clients``).

Per database and latency: the throughput ratio, reference ÷ unguarded (medians of the
eight-shopper rounds), and the added p50: p50 of the reference confirms minus p50 of the
unguarded ones, one at a time. Goal: added p50 at most 5 ms on PostgreSQL at 300 ms, the
latency a customer meets.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from fake_provider.client import FakeProviderClient
from harness.bench._model import BenchContext, BenchResult, Goal
from harness.bench._stack import Database, Shopper, app_stack, start_provider
from harness.bench._stats import latency_summary, percentile, ratio

GOAL_ADDED_P50_MS = 5.0
CLIENTS = 8
DATABASES: tuple[Database, ...] = ("sqlite", "postgresql")
LATENCIES_MS = (0, 300)
HEADLINE: tuple[Database, int] = ("postgresql", 300)
"""The cell the headline's ``overhead_ratio`` and ``added_p50_ms`` come from."""
PATHS = ("reference", "unguarded")

Pay = Callable[[Shopper, str], httpx.Response]


def _reference(shopper: Shopper, order_id: str) -> httpx.Response:
    return shopper.confirm(order_id, secrets.token_hex(12))


def _unguarded(shopper: Shopper, order_id: str) -> httpx.Response:
    return shopper.confirm_unguarded(order_id)


PAY: dict[str, Pay] = {"reference": _reference, "unguarded": _unguarded}


def confirm_round(base_url: str, pay: Pay, orders_per_client: int) -> dict[str, Any]:
    """``CLIENTS`` shoppers each pay their own fresh orders once, side by side: confirms
    per second, and every confirm's latency in seconds."""
    shoppers = [Shopper(base_url) for _ in range(CLIENTS)]
    try:
        orders = [[s.create_order() for _ in range(orders_per_client)] for s in shoppers]

        def pay_all(i: int) -> list[tuple[int, float]]:
            done = []
            for order_id in orders[i]:
                started = time.perf_counter()
                status = pay(shoppers[i], order_id).status_code
                done.append((status, time.perf_counter() - started))
            return done

        with ThreadPoolExecutor(CLIENTS) as pool:
            started = time.perf_counter()
            answers = [a for batch in pool.map(pay_all, range(CLIENTS)) for a in batch]
            elapsed = time.perf_counter() - started
    finally:
        for s in shoppers:
            s.close()
    return {
        "per_s": round(len(answers) / elapsed, 1),
        "statuses": [status for status, _ in answers],
        "latencies": [seconds for _, seconds in answers],
        "order_ids": [o for batch in orders for o in batch],
    }


def one_at_a_time(base_url: str, pairs: int) -> dict[str, Any]:
    """One shopper pays ``pairs`` orders by each confirm, the two alternating request by
    request (which goes first alternates too): every confirm's latency in seconds, with
    no queueing behind the benchmark's own requests."""
    latencies: dict[str, list[float]] = {name: [] for name in PATHS}
    statuses: dict[str, list[int]] = {name: [] for name in PATHS}
    order_ids: dict[str, list[str]] = {name: [] for name in PATHS}
    with Shopper(base_url) as shopper:
        orders = {name: [shopper.create_order() for _ in range(pairs)] for name in PATHS}
        for i in range(pairs):
            for name in PATHS if i % 2 == 0 else PATHS[::-1]:
                started = time.perf_counter()
                statuses[name].append(PAY[name](shopper, orders[name][i]).status_code)
                latencies[name].append(time.perf_counter() - started)
                order_ids[name].append(orders[name][i])
    return {"latencies": latencies, "statuses": statuses, "order_ids": order_ids}


def measure(base_url: str, rounds: int, orders_per_client: int, pairs: int) -> dict[str, Any]:
    """Alternate rounds of the two confirms against one checkout, eight shoppers at a time
    (throughput), then ``pairs`` of them one at a time (latency); the cell's figures."""
    for name in PATHS:  # one unmeasured round each warms pools and code paths
        confirm_round(base_url, PAY[name], 2)
    rates: dict[str, list[float]] = {name: [] for name in PATHS}
    latencies: dict[str, list[float]] = {name: [] for name in PATHS}
    statuses: dict[str, list[int]] = {name: [] for name in PATHS}
    order_ids: dict[str, list[str]] = {name: [] for name in PATHS}
    for i in range(rounds):
        # alternate which goes first, so neither always runs right after the other
        for name in PATHS if i % 2 == 0 else PATHS[::-1]:
            done = confirm_round(base_url, PAY[name], orders_per_client)
            rates[name].append(done["per_s"])
            latencies[name].extend(done["latencies"])
            statuses[name].extend(done["statuses"])
            order_ids[name].extend(done["order_ids"])
    alone = one_at_a_time(base_url, pairs)
    for name in PATHS:
        statuses[name].extend(alone["statuses"][name])
        order_ids[name].extend(alone["order_ids"][name])
    medians = {name: statistics.median(rates[name]) for name in PATHS}
    return {
        "rounds_per_s": rates,
        "latency_8_clients": {name: latency_summary(latencies[name]) for name in PATHS},
        "added_p50_ms_8_clients": _added_p50(latencies),
        "latency": {name: latency_summary(alone["latencies"][name]) for name in PATHS},
        "reference_per_s": medians["reference"],
        "unguarded_per_s": medians["unguarded"],
        "overhead_ratio": ratio(medians["reference"], medians["unguarded"]),
        "added_p50_ms": _added_p50(alone["latencies"]),
        "every_confirm_paid": {n: all(s == 200 for s in statuses[n]) for n in PATHS},
        "order_ids": order_ids,
    }


def _added_p50(latencies: dict[str, list[float]]) -> float:
    """p50 of the reference confirms minus p50 of the unguarded ones, in ms."""
    p50 = {name: percentile(latencies[name], 50) * 1000 for name in PATHS}
    return round(p50["reference"] - p50["unguarded"], 2)


def run(ctx: BenchContext) -> BenchResult:
    rounds: int = ctx.size(4, 1)
    result = BenchResult("overhead", figures={"clients": CLIENTS, "rounds": rounds, "cells": []})
    workdir = ctx.workdir / "overhead"
    for latency in LATENCIES_MS:
        per_client: int = ctx.size(20 if latency == 0 else 6, 2)
        pairs: int = ctx.size(100 if latency == 0 else 50, 3)
        provider = start_provider(workdir / f"provider-{latency}", latency_ms=latency)
        try:
            cells = []
            for database in DATABASES:
                with app_stack(
                    database, ctx.postgres_admin_url, workdir / f"{database}-{latency}",
                    provider=provider, extra_env={"NODOUBLE_BENCH_UNGUARDED": "1"},
                ) as stack:  # fmt: skip
                    cell = measure(stack.app_url, rounds, per_client, pairs)
                cells.append({"database": database, "latency_ms": latency,
                              "orders_per_round": per_client * CLIENTS, **cell})  # fmt: skip
            with FakeProviderClient(provider.url) as fake:
                charged = {k: v["charges"] for k, v in fake.summary()["keys"].items()}
        finally:
            provider.stop()
        for cell in cells:
            _judge(result, cell, charged)
    headline = next(
        c for c in result.figures["cells"] if (c["database"], c["latency_ms"]) == HEADLINE
    )
    result.figures["overhead_ratio"] = headline["overhead_ratio"]
    result.figures["added_p50_ms"] = headline["added_p50_ms"]
    return result


def _judge(result: BenchResult, cell: dict[str, Any], charged: dict[str, int]) -> None:
    """The cell's invariants and goals into ``result``; its order ids dropped from it."""
    where = f"{cell['database']}, {cell['latency_ms']} ms"
    order_ids = cell.pop("order_ids")
    for name in PATHS:
        result.invariants[f"every {name} confirm paid ({where})"] = cell["every_confirm_paid"][name]
        result.invariants[f"one charge per {name} order ({where})"] = bool(order_ids[name]) and all(
            charged.get(o) == 1 for o in order_ids[name]
        )
    result.figures["cells"].append(cell)
    goal = GOAL_ADDED_P50_MS if cell["database"] == "postgresql" and cell["latency_ms"] else None
    result.goals.append(
        Goal(f"added p50 of the guard ({where})", cell["added_p50_ms"], goal, "max", " ms")
    )
    result.goals.append(
        Goal(
            f"throughput reference / unguarded ({where})", cell["overhead_ratio"], None, "min", "x"
        )
    )
