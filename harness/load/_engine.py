"""The asyncio engine of the load mode (see the package docstring)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from fake_provider.client import FakeProviderClient
from harness.load._requests import Recipe, Request, new_key
from harness.profile import TargetProfile

PENDING = frozenset({202, 409})
FINAL_PAID = 200


@dataclass(frozen=True)
class LoadOptions:
    orders: int
    duplicates: int = 3
    """Confirms sent together per order, all with the same key."""
    concurrency: int = 16
    """Shoppers working at once (one connection pool each)."""
    max_retries: int = 200
    """Retries of a pending answer per order before it counts as unsettled."""
    retry_delay_s: float = 0.05
    timeout_s: float = 60.0


@dataclass
class LoadResult:
    orders: int = 0
    confirms: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    paid: int = 0
    unsettled: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    charges: int = 0
    double_charged: list[str] = field(default_factory=list)
    paid_without_charge: list[str] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)

    @property
    def ledger_ok(self) -> bool:
        return not self.double_charged and not self.paid_without_charge

    def to_json(self) -> dict[str, Any]:
        per_s = self.requests / self.elapsed_s if self.elapsed_s else 0.0
        return {
            "orders": self.orders,
            "confirms": self.confirms,
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "paid": self.paid,
            "unsettled": self.unsettled,
            "errors": self.errors[:10],
            "error_count": len(self.errors),
            "elapsed_s": round(self.elapsed_s, 2),
            "requests_per_s": round(per_s, 1),
            "orders_per_s": round(self.orders / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "charges": self.charges,
            "double_charged": self.double_charged[:10],
            "double_charged_count": len(self.double_charged),
            "paid_without_charge": self.paid_without_charge[:10],
        }


async def _send(client: httpx.AsyncClient, request: Request, result: LoadResult) -> httpx.Response:
    result.requests += 1
    response = await client.request(
        request.method, request.path, json=request.json, data=request.data, headers=request.headers
    )
    result.statuses[response.status_code] += 1
    return response


async def _shopper(
    base_url: str,
    recipe: Recipe,
    user: str,
    options: LoadOptions,
    todo: asyncio.Queue[int],
    result: LoadResult,
    paid: list[str],
) -> None:
    async with httpx.AsyncClient(
        base_url=base_url,
        timeout=options.timeout_s,
        headers=recipe.headers(user),
        limits=httpx.Limits(max_connections=options.duplicates + 1),
    ) as client:
        login = recipe.login(user)
        if login is not None:
            (await _send(client, login, result)).raise_for_status()
        while True:
            try:
                todo.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await _one_order(client, recipe, user, options, result, paid)
            except httpx.HTTPError as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")


async def _one_order(
    client: httpx.AsyncClient,
    recipe: Recipe,
    user: str,
    options: LoadOptions,
    result: LoadResult,
    paid: list[str],
) -> None:
    created = await _send(client, recipe.create_order(user), result)
    created.raise_for_status()
    order_id = recipe.order_id(created.json())
    result.orders += 1
    result.order_ids.append(order_id)
    confirm = recipe.confirm(user, order_id, new_key())
    answers = await asyncio.gather(
        *(_send(client, confirm, result) for _ in range(options.duplicates))
    )
    result.confirms += options.duplicates
    statuses = {a.status_code for a in answers}
    for _ in range(options.max_retries):
        if not statuses <= PENDING:
            break
        await asyncio.sleep(options.retry_delay_s)
        statuses = {(await _send(client, confirm, result)).status_code}
        result.confirms += 1
    if FINAL_PAID in statuses:
        result.paid += 1
        paid.append(order_id)
    elif statuses <= PENDING:
        result.unsettled += 1


def run_load(
    profile: TargetProfile, base_url: str, provider_url: str, options: LoadOptions
) -> LoadResult:
    """Run the load against ``base_url``, then check the provider's ledger."""
    recipe = Recipe(profile)
    result = LoadResult()
    paid: list[str] = []
    users = recipe.users()

    async def main() -> None:
        todo: asyncio.Queue[int] = asyncio.Queue()
        for i in range(options.orders):
            todo.put_nowait(i)
        shoppers = [
            _shopper(
                base_url, recipe, f"{users[i % len(users)]}-load{i}", options, todo, result, paid
            )
            for i in range(options.concurrency)
        ]
        await asyncio.gather(*shoppers)

    started = time.perf_counter()
    asyncio.run(main())
    result.elapsed_s = time.perf_counter() - started
    business_key = profile.provider.business_key
    with FakeProviderClient(provider_url, timeout=120) as fake:
        summary = fake.summary(field=business_key, account=profile.provider.api_key)
    charges = {key: entry["charges"] for key, entry in summary["keys"].items()}
    mine = set(result.order_ids)
    result.charges = sum(charges.get(o, 0) for o in mine)
    result.double_charged = sorted(o for o in mine if charges.get(o, 0) > 1)
    result.paid_without_charge = sorted(o for o in paid if charges.get(o, 0) != 1)
    return result
