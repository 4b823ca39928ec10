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
import json
import sqlite3
import time
import uuid
from typing import Any

import _shopkit as kit
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


class Shop(kit.SqlShop):
    """Orders and their one live attempt, whose stored outcome answers every pay request."""

    KEY = "order_id"
    PENDING = "select order_id from attempts where state = 'pending' and began < ?"
    STILL_PENDING = "select 1 from attempts where order_id = ? and state = 'pending'"

    def attempt(self, order_id: str) -> sqlite3.Row | None:
        return self.fetch("attempts", "order_id", order_id)

    def view(self, order_id: str) -> dict[str, Any]:
        row = self.row(order_id)
        assert row is not None
        return {"order_id": row["order_id"], "price": row["price"], "paid": bool(row["paid"])}

    async def charge(self, order_id: str, card: str, key: str | None) -> kit.ProviderAnswer:
        row = self.row(order_id)
        assert row is not None
        form = {"amount": str(row["price"]), "currency": "usd", "confirm": "true",
                "payment_method": card, "metadata[order_ref]": order_id}  # fmt: skip
        return await self.provider(
            "POST", "/v1/payment_intents", data=form, headers=kit.idempotency(key)
        )

    async def settle(self, order_id: str) -> tuple[int, dict[str, Any]] | None:
        """Run the order's pending attempt; its final outcome, or ``None`` while unknown."""
        attempt = self.attempt(order_id)
        assert attempt is not None
        answer = await self.charge(order_id, attempt["card"], f"ordkey-{order_id}-{attempt['n']}")
        if kit.succeeded(answer):
            return self.finish(order_id, 200, paid=True)
        if answer is not None and answer[0] == 402:
            return self.finish(order_id, 402, paid=False)
        if await self.search(f"metadata['order_ref']:'{order_id}' AND status:'succeeded'"):
            return self.finish(order_id, 200, paid=True)
        return None

    def finish(self, order_id: str, status: int, *, paid: bool) -> tuple[int, dict[str, Any]]:
        with self.db:
            if paid:
                self.db.execute("update orders set paid = 1 where order_id = ?", (order_id,))
            body = (
                self.view(order_id)
                if paid
                else kit.problem_body(402, "card declined", "try another")
            )
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
        order = self.row(order_id)
        assert order is not None
        if order["paid"]:
            return JSONResponse(self.view(order_id))
        await asyncio.sleep(0.02)  # "load the customer's saved address": the race window
        answer = await self.charge(order_id, card, None)
        if answer is not None and answer[0] == 200:
            with self.db:
                self.db.execute("update orders set paid = 1 where order_id = ?", (order_id,))
            return JSONResponse(self.view(order_id))
        return kit.problem(502, "payment failed", "the provider did not confirm the payment")

    async def resume(self, key: str) -> object:
        return await self.settle(key)


def _stored(attempt: sqlite3.Row) -> Response:
    status = int(attempt["status"])
    return Response(attempt["body"], status, media_type=kit.media(status))


# -- HTTP -------------------------------------------------------------------------------------


async def create_order(request: Request) -> Response:
    customer = kit.bearer(request)
    if customer is None:
        return kit.problem(401, "who are you?", "send Authorization: Bearer <name>")
    data = await kit.read_json(request)
    sku, n = data.get("sku"), data.get("n", 1)
    if sku not in PRICES or not isinstance(n, int) or not 1 <= n <= 4:
        return kit.problem(422, "bad order", f"sku one of {sorted(PRICES)}, n 1 to 4")
    shop = kit.state(request, Shop)
    order_id = f"k{uuid.uuid4().hex[:15]}"
    with shop.db:
        shop.db.execute(
            "insert into orders (order_id, customer, price) values (?, ?, ?)",
            (order_id, customer, PRICES[sku] * n),
        )
    return JSONResponse(shop.view(order_id), 201)


async def read_order(request: Request) -> Response:
    shop = kit.state(request, Shop)
    row = shop.row(request.path_params["order_id"])
    if row is None or row["customer"] != kit.bearer(request):
        return kit.problem(404, "no such order", "check the order id")
    return JSONResponse(shop.view(row["order_id"]))


async def pay(request: Request) -> Response:
    shop = kit.state(request, Shop)
    order_id = request.path_params["order_id"]
    row = shop.row(order_id)
    if row is None or row["customer"] != kit.bearer(request):
        return kit.problem(404, "no such order", "check the order id")
    card = str((await kit.read_json(request)).get("card") or "pm_card_visa")
    if shop.broken == "check_then_set":
        return await shop.pay_racily(order_id, card)
    async with shop.lock(order_id):
        return await shop.pay(order_id, card)


# -- the process ------------------------------------------------------------------------------


def create_app() -> Starlette:
    return Shop.from_env(MODES, SCHEMA).app([
        Route("/healthz", kit.healthz),
        Route("/shop/orders", create_order, methods=["POST"]),
        Route("/shop/orders/{order_id}", read_order),
        Route("/shop/orders/{order_id}/pay", pay, methods=["POST"]),
    ])  # fmt: skip


if __name__ == "__main__":
    kit.serve(create_app())
