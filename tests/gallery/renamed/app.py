"""renamed: a basket checkout whose every name differs from reference_app's.

API (the shopper is named by the ``X-Shopper`` header, no login):
``POST /v2/baskets {"item", "count"}`` → ``{"basket": {"ref", "total_cents", "paid"}}``;
``PUT /v2/baskets/{basket}/payment`` (header ``X-Request-Key``, body ``{"card"}``) pays;
``GET /v2/baskets/{basket}`` reads it. Errors are problem+json.

Paying is one provider call, ``POST /v1/payment_intents`` with ``confirm=true``,
``metadata[basket_ref]`` (the basket) and ``metadata[shopper]``, under a provider key
derived from the basket and its try number. A ``payments`` journal row is committed
before the call; an answer that does not come (timeout, dropped connection, 5xx) leaves it
``started``, the client gets 202, and the reconciler (every 0.5 s, and at start-up) asks
the provider with a search on ``metadata['basket_ref']`` and, if nothing succeeded,
repeats the call under the same provider key.

Environment: ``SHOP_PORT``, ``SHOP_PROVIDER_URL``, ``SHOP_API_KEY``, ``SHOP_DB``,
``SHOP_PROVIDER_TIMEOUT_S`` (3) and ``BROKEN``:

- ``no_dedupe``: every payment request charges, whatever its key or the basket's state.
- ``recreate_order``: a payment request (with a key not seen before) for a basket already
  paid copies the basket into a fresh one and charges that, under a new ``basket_ref``.
"""

from __future__ import annotations

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

MODES = ("", "no_dedupe", "recreate_order")
ITEMS = {"kettle": 3900, "teapot": 2750}
SCHEMA = """
create table if not exists baskets (
    ref text primary key,            -- bk-<hex>; metadata[basket_ref] at the provider
    shopper text not null,           -- X-Shopper of whoever made it
    item text not null,
    count integer not null,
    total_cents integer not null,
    paid integer not null default 0  -- 1 once a charge for it is known
);
create table if not exists payments (
    basket_ref text primary key,     -- one live payment per basket
    state text not null,             -- started | succeeded | declined
    tries integer not null,          -- bumped by a decline; part of the provider key
    card text not null,
    intent text,                     -- pi_... once the provider answered
    started_at real not null
);
"""


class Store(kit.SqlShop):
    """Baskets, the payment journal, replies per shopper key, and paying in one call."""

    TABLE = "baskets"
    KEY = "ref"
    PENDING = "select basket_ref from payments where state = 'started' and started_at < ?"
    STILL_PENDING = "select 1 from payments where basket_ref = ? and state = 'started'"

    def payment(self, ref: str) -> sqlite3.Row | None:
        return self.fetch("payments", "basket_ref", ref)

    def new_basket(self, shopper: str, item: str, count: int) -> str:
        ref = f"bk-{uuid.uuid4().hex[:14]}"
        with self.db:
            self.db.execute(
                "insert into baskets (ref, shopper, item, count, total_cents) values (?,?,?,?,?)",
                (ref, shopper, item, count, ITEMS[item] * count),
            )
        return ref

    def shown(self, ref: str) -> dict[str, Any]:
        row = self.row(ref)
        assert row is not None
        return {"ref": row["ref"], "item": row["item"], "count": row["count"],
                "total_cents": row["total_cents"], "paid": bool(row["paid"])}  # fmt: skip

    async def charge(self, ref: str, key: str | None) -> kit.ProviderAnswer:
        basket, payment = self.row(ref), self.payment(ref)
        assert basket is not None and payment is not None
        form = {
            "amount": str(basket["total_cents"]), "currency": "gbp", "confirm": "true",
            "payment_method": payment["card"], "metadata[basket_ref]": ref,
            "metadata[shopper]": basket["shopper"],
        }  # fmt: skip
        return await self.provider(
            "POST", "/v1/payment_intents", data=form, headers=kit.idempotency(key)
        )

    # -- paying ---------------------------------------------------------------------------

    async def pay(self, ref: str, card: str) -> kit.Result:
        """Start (or resume) the basket's payment and take it as far as the provider allows."""
        if self.broken == "no_dedupe":
            return await self.pay_blindly(ref, card)
        basket = self.row(ref)
        assert basket is not None
        if basket["paid"]:
            if self.broken == "recreate_order":
                copy = self.new_basket(basket["shopper"], basket["item"], basket["count"])
                return await self.pay(copy, card)
            return kit.Result(200, {"basket": self.shown(ref)})
        payment = self.payment(ref)
        if payment is None or payment["state"] == "declined":
            tries = 0 if payment is None else payment["tries"] + 1
            with self.db:
                self.db.execute(
                    "insert or replace into payments values (?, 'started', ?, ?, null, ?)",
                    (ref, tries, card, time.time()),
                )
        return await self.drive(ref)

    async def drive(self, ref: str) -> kit.Result:
        payment = self.payment(ref)
        assert payment is not None
        answer = await self.charge(ref, f"{ref}-try{payment['tries']}")
        if answer is not None and kit.succeeded(answer):
            return self.succeeded(ref, answer[1]["id"])
        if answer is not None and answer[0] == 402:
            with self.db:
                self.db.execute("update payments set state = 'declined' where basket_ref = ?",
                                (ref,))  # fmt: skip
            message = str((answer[1].get("error") or {}).get("message") or "declined")
            return kit.Result(402, kit.problem_body(402, "card declined", message))
        found = await self.search(f"metadata['basket_ref']:'{ref}' AND status:'succeeded'")
        if found:
            return self.succeeded(ref, str(found[0]["id"]))
        return kit.Result(
            202, {"basket": self.shown(ref), "payment": {"state": "processing"}}, False
        )

    def succeeded(self, ref: str, intent: str) -> kit.Result:
        with self.db:
            self.db.execute("update baskets set paid = 1 where ref = ?", (ref,))
            self.db.execute(
                "update payments set state = 'succeeded', intent = ? where basket_ref = ?",
                (intent, ref),
            )
        return kit.Result(200, {"basket": self.shown(ref), "payment": {"ref": intent}})

    async def pay_blindly(self, ref: str, card: str) -> kit.Result:
        with self.db:
            self.db.execute(
                "insert or replace into payments values (?, 'started', 0, ?, null, ?)",
                (ref, card, time.time()),
            )
        answer = await self.charge(ref, None)
        if answer is not None and answer[0] == 200:
            return self.succeeded(ref, answer[1]["id"])
        return kit.Result(
            502, kit.problem_body(502, "payment failed", "the provider did not confirm")
        )

    async def resume(self, key: str) -> kit.Result:
        return await self.drive(key)


# -- HTTP ---------------------------------------------------------------------------------


async def new_basket(request: Request) -> Response:
    shopper = request.headers.get("x-shopper")
    if not shopper:
        return kit.problem(401, "X-Shopper required", "name the shopper in X-Shopper")
    data = await kit.read_json(request)
    item, count = data.get("item"), data.get("count", 1)
    if item not in ITEMS or not isinstance(count, int) or not 1 <= count <= 5:
        return kit.problem(422, "bad basket", f"item one of {sorted(ITEMS)}, count 1 to 5")
    store = kit.state(request, Store)
    ref = store.new_basket(shopper, item, count)
    return JSONResponse({"basket": store.shown(ref)}, 201)


async def show_basket(request: Request) -> Response:
    store = kit.state(request, Store)
    row = store.row(request.path_params["basket"])
    if row is None or row["shopper"] != request.headers.get("x-shopper"):
        return kit.problem(404, "no such basket", "check the basket ref")
    return JSONResponse({"basket": store.shown(row["ref"])})


async def put_payment(request: Request) -> Response:
    store = kit.state(request, Store)
    shopper = request.headers.get("x-shopper")
    ref = request.path_params["basket"]
    row = store.row(ref)
    if shopper is None or row is None or row["shopper"] != shopper:
        return kit.problem(404, "no such basket", "check the basket ref")
    data = await kit.read_json(request)
    card = str(data.get("card") or "pm_card_visa")
    if store.broken == "no_dedupe":
        reply = await store.pay(ref, card)
        return _send(reply)
    key = request.headers.get("x-request-key")
    if not key:
        return kit.problem(
            400, "X-Request-Key required", "send one unique X-Request-Key per payment"
        )
    digest = kit.fingerprint(data)
    async with store.lock(ref):
        seen = store.replay(shopper, key)  # X-Request-Key, per shopper
        if seen is not None:
            if seen["digest"] != digest:
                return kit.problem(422, "X-Request-Key reused", "that key came with another body")
            return Response(seen["body"], seen["status"], media_type=kit.media(seen["status"]))
        reply = await store.pay(ref, card)
        if reply.final and reply.status < 500:
            text = json.dumps(reply.body)
            store.remember(shopper, key, digest, reply.status, text, or_ignore=False)
        return _send(reply)


def _send(reply: kit.Result) -> Response:
    headers = {} if reply.final else {"Retry-After": "1"}
    return Response(json.dumps(reply.body), reply.status, headers, kit.media(reply.status))


# -- the process --------------------------------------------------------------------------


def create_app() -> Starlette:
    store = Store.from_env(MODES, SCHEMA, kit.REPLAYS_SCHEMA)
    # a checkout with no dedupe has no journal worth reconciling either
    return store.app([
        Route("/healthz", kit.healthz),
        Route("/v2/baskets", new_basket, methods=["POST"]),
        Route("/v2/baskets/{basket}", show_basket),
        Route("/v2/baskets/{basket}/payment", put_payment, methods=["PUT"]),
    ], reconcile=store.broken != "no_dedupe")  # fmt: skip


if __name__ == "__main__":
    kit.serve(create_app())
