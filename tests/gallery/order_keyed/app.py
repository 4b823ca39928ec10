"""order_keyed: a checkout with no idempotency header at all; the order is the key.

API (the customer is named by ``Authorization: Bearer <name>``): ``POST /shop/orders
{"sku", "n"}`` → ``{"order_id", "price", "paid": false}``; ``POST /shop/orders/{id}/pay``
(body ``{"card"}``, no key header: it is ignored) pays; ``GET /shop/orders/{id}`` reads it.
Errors are problem+json.

One payment per order: under a lock per order, the first pay request records the attempt
in SQLite and calls the provider (``confirm=true``, provider key ``ordkey-<order>-<n>``);
every later pay request for that order gets the stored outcome of the attempt (the same
status and body), whichever client sent it. An unknown outcome answers 202 and leaves the
attempt ``pending``; the reconciler (every 0.5 s and at start-up) repeats the call under the
same provider key and, if the provider replays an error, searches by ``metadata``.

Environment: ``SHOP_PORT``, ``SHOP_PROVIDER_URL``, ``SHOP_API_KEY``, ``SHOP_DB``,
``SHOP_PROVIDER_TIMEOUT_S`` (3) and ``BROKEN``:

- ``check_then_set``: no lock and no provider key; it reads "already paid?", waits on a
  short database round trip (an ``await``), then charges and sets "paid". Two requests that
  overlap in that window both charge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODES = ("", "check_then_set")
PRICES = {"candle": 1200, "vase": 6400}
SCHEMA = """
create table if not exists orders (
    order_id text primary key,      -- metadata[order_ref] at the provider
    customer text not null,
    price integer not null,
    paid integer not null default 0
);
create table if not exists attempts (
    order_id text primary key,      -- one live attempt per order
    n integer not null,             -- attempt number (bumped after a decline)
    card text not null,
    state text not null,            -- pending | done
    status integer,                 -- the outcome every pay request of this order gets
    body text,
    began real not null
);
"""


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


@dataclass
class Shop:
    db: sqlite3.Connection
    provider_url: str
    api_key: str
    broken: str
    timeout_s: float
    http: httpx.AsyncClient | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def order(self, order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from orders where order_id = ?", (order_id,)
        ).fetchone()
        return row

    def attempt(self, order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from attempts where order_id = ?", (order_id,)
        ).fetchone()
        return row

    def view(self, order_id: str) -> dict[str, Any]:
        row = self.order(order_id)
        assert row is not None
        return {"order_id": row["order_id"], "price": row["price"], "paid": bool(row["paid"])}

    async def provider(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any] | None:
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        assert self.http is not None
        try:
            answer = await self.http.request(
                method, self.provider_url + path, headers=headers, **kwargs
            )
            return answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            return None

    async def charge(self, order_id: str, card: str, key: str | None) -> tuple[int, Any] | None:
        row = self.order(order_id)
        assert row is not None
        form = {"amount": str(row["price"]), "currency": "usd", "confirm": "true",
                "payment_method": card, "metadata[order_ref]": order_id}  # fmt: skip
        headers = {"Idempotency-Key": key} if key else {}
        return await self.provider("POST", "/v1/payment_intents", data=form, headers=headers)

    async def settle(self, order_id: str) -> tuple[int, dict[str, Any]] | None:
        """Run the order's pending attempt; its final outcome, or ``None`` while unknown."""
        attempt = self.attempt(order_id)
        assert attempt is not None
        answer = await self.charge(order_id, attempt["card"], f"ordkey-{order_id}-{attempt['n']}")
        if answer is not None and answer[0] == 200 and answer[1].get("status") == "succeeded":
            return self.finish(order_id, 200, paid=True)
        if answer is not None and answer[0] == 402:
            return self.finish(order_id, 402, paid=False)
        query = f"metadata['order_ref']:'{order_id}' AND status:'succeeded'"
        found = await self.provider("GET", "/v1/payment_intents/search", params={"query": query})
        if found is not None and found[0] == 200 and found[1].get("data"):
            return self.finish(order_id, 200, paid=True)
        return None

    def finish(self, order_id: str, status: int, *, paid: bool) -> tuple[int, dict[str, Any]]:
        with self.db:
            if paid:
                self.db.execute("update orders set paid = 1 where order_id = ?", (order_id,))
            body = self.view(order_id) if paid else _problem(402, "card declined", "try another")
            self.db.execute(
                "update attempts set state = 'done', status = ?, body = ? where order_id = ?",
                (status, json.dumps(body), order_id),
            )
        return status, body

    async def pay(self, order_id: str, card: str) -> Response:
        attempt = self.attempt(order_id)
        if attempt is not None and attempt["state"] == "done" and attempt["status"] == 200:
            return _stored(attempt)  # paid: every later request gets the same outcome
        if attempt is None or attempt["state"] == "done":  # first try, or after a decline
            n = 0 if attempt is None else attempt["n"] + 1
            with self.db:
                self.db.execute(
                    "insert or replace into attempts (order_id, n, card, state, began) "
                    "values (?, ?, ?, 'pending', ?)",
                    (order_id, n, card, time.time()),
                )
        outcome = await self.settle(order_id)
        if outcome is None:
            body = {**self.view(order_id), "payment": "pending"}
            return JSONResponse(body, 202, headers={"Retry-After": "1"})
        attempt = self.attempt(order_id)
        assert attempt is not None
        return _stored(attempt)

    async def pay_racily(self, order_id: str, card: str) -> Response:
        order = self.order(order_id)
        assert order is not None
        if order["paid"]:
            return JSONResponse(self.view(order_id))
        await asyncio.sleep(0.02)  # "load the customer's saved address": the race window
        answer = await self.charge(order_id, card, None)
        if answer is not None and answer[0] == 200:
            with self.db:
                self.db.execute("update orders set paid = 1 where order_id = ?", (order_id,))
            return JSONResponse(self.view(order_id))
        return problem(502, "payment failed", "the provider did not confirm the payment")

    async def reconcile(self, min_age_s: float = 1.0) -> None:
        rows = self.db.execute(
            "select order_id from attempts where state = 'pending' and began < ?",
            (time.time() - min_age_s,),
        ).fetchall()
        for (order_id,) in rows:
            async with self.locks.setdefault(order_id, asyncio.Lock()):
                attempt = self.attempt(order_id)
                if attempt is not None and attempt["state"] == "pending":
                    await self.settle(order_id)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def _stored(attempt: sqlite3.Row) -> Response:
    status = int(attempt["status"])
    media = "application/json" if status < 400 else "application/problem+json"
    return Response(attempt["body"], status, media_type=media)


# -- HTTP -------------------------------------------------------------------------------------


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


def _customer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") or None if auth.startswith("Bearer ") else None


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def create_order(request: Request) -> Response:
    customer = _customer(request)
    if customer is None:
        return problem(401, "who are you?", "send Authorization: Bearer <name>")
    data = await _json(request)
    sku, n = data.get("sku"), data.get("n", 1)
    if sku not in PRICES or not isinstance(n, int) or not 1 <= n <= 4:
        return problem(422, "bad order", f"sku one of {sorted(PRICES)}, n 1 to 4")
    shop = _shop(request)
    order_id = f"k{uuid.uuid4().hex[:15]}"
    with shop.db:
        shop.db.execute(
            "insert into orders (order_id, customer, price) values (?, ?, ?)",
            (order_id, customer, PRICES[sku] * n),
        )
    return JSONResponse(shop.view(order_id), 201)


async def read_order(request: Request) -> Response:
    shop = _shop(request)
    row = shop.order(request.path_params["order_id"])
    if row is None or row["customer"] != _customer(request):
        return problem(404, "no such order", "check the order id")
    return JSONResponse(shop.view(row["order_id"]))


async def pay(request: Request) -> Response:
    shop = _shop(request)
    order_id = request.path_params["order_id"]
    row = shop.order(order_id)
    if row is None or row["customer"] != _customer(request):
        return problem(404, "no such order", "check the order id")
    card = str((await _json(request)).get("card") or "pm_card_visa")
    if shop.broken == "check_then_set":
        return await shop.pay_racily(order_id, card)
    async with shop.locks.setdefault(order_id, asyncio.Lock()):
        return await shop.pay(order_id, card)


# -- the process ------------------------------------------------------------------------------


def create_app() -> Starlette:
    broken = os.environ.get("BROKEN", "")
    if broken not in MODES:
        raise SystemExit(f"BROKEN={broken!r} is not one of {MODES}")
    db = sqlite3.connect(os.environ.get("SHOP_DB", ":memory:"), isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("pragma journal_mode = wal")
    db.execute("pragma synchronous = full")
    db.executescript(SCHEMA)
    shop = Shop(
        db=db,
        provider_url=os.environ["SHOP_PROVIDER_URL"].rstrip("/"),
        api_key=os.environ.get("SHOP_API_KEY", "sk_test_nodouble"),
        broken=broken,
        timeout_s=float(os.environ.get("SHOP_PROVIDER_TIMEOUT_S", "3")),
    )

    async def reconciler() -> None:
        while True:
            with contextlib.suppress(Exception):
                await shop.reconcile()
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=shop.timeout_s) as http:
            shop.http = http
            task = asyncio.create_task(reconciler())
            yield
            task.cancel()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/shop/orders", create_order, methods=["POST"]),
            Route("/shop/orders/{order_id}", read_order),
            Route("/shop/orders/{order_id}/pay", pay, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.shop = shop
    return app


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ["SHOP_PORT"]),
                log_level="warning")  # fmt: skip
