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

import asyncio
import contextlib
import hashlib
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
create table if not exists replies (
    shopper text not null,
    request_key text not null,       -- X-Request-Key, per shopper
    digest text not null,            -- sha256 of the canonical body
    code integer not null,
    payload text not null,
    primary key (shopper, request_key)
);
"""


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


@dataclass
class Reply:
    code: int
    payload: dict[str, Any]
    final: bool = True


@dataclass
class Store:
    db: sqlite3.Connection
    provider_url: str
    api_key: str
    broken: str
    timeout_s: float
    http: httpx.AsyncClient | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def basket(self, ref: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from baskets where ref = ?", (ref,)
        ).fetchone()
        return row

    def payment(self, ref: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from payments where basket_ref = ?", (ref,)
        ).fetchone()
        return row

    def new_basket(self, shopper: str, item: str, count: int) -> str:
        ref = f"bk-{uuid.uuid4().hex[:14]}"
        with self.db:
            self.db.execute(
                "insert into baskets (ref, shopper, item, count, total_cents) values (?,?,?,?,?)",
                (ref, shopper, item, count, ITEMS[item] * count),
            )
        return ref

    def shown(self, ref: str) -> dict[str, Any]:
        row = self.basket(ref)
        assert row is not None
        return {"ref": row["ref"], "item": row["item"], "count": row["count"],
                "total_cents": row["total_cents"], "paid": bool(row["paid"])}  # fmt: skip

    # -- the provider ---------------------------------------------------------------------

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any] | None:
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        assert self.http is not None
        try:
            answer = await self.http.request(
                method, self.provider_url + path, headers=headers, **kwargs
            )
            return answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            return None

    async def charge(self, ref: str, key: str | None) -> tuple[int, Any] | None:
        basket, payment = self.basket(ref), self.payment(ref)
        assert basket is not None and payment is not None
        form = {
            "amount": str(basket["total_cents"]), "currency": "gbp", "confirm": "true",
            "payment_method": payment["card"], "metadata[basket_ref]": ref,
            "metadata[shopper]": basket["shopper"],
        }  # fmt: skip
        headers = {"Idempotency-Key": key} if key else {}
        return await self.call("POST", "/v1/payment_intents", data=form, headers=headers)

    # -- paying ---------------------------------------------------------------------------

    async def pay(self, ref: str, card: str) -> Reply:
        """Start (or resume) the basket's payment and take it as far as the provider allows."""
        if self.broken == "no_dedupe":
            return await self.pay_blindly(ref, card)
        basket = self.basket(ref)
        assert basket is not None
        if basket["paid"]:
            if self.broken == "recreate_order":
                copy = self.new_basket(basket["shopper"], basket["item"], basket["count"])
                return await self.pay(copy, card)
            return Reply(200, {"basket": self.shown(ref)})
        payment = self.payment(ref)
        if payment is None or payment["state"] == "declined":
            tries = 0 if payment is None else payment["tries"] + 1
            with self.db:
                self.db.execute(
                    "insert or replace into payments values (?, 'started', ?, ?, null, ?)",
                    (ref, tries, card, time.time()),
                )
        return await self.drive(ref)

    async def drive(self, ref: str) -> Reply:
        payment = self.payment(ref)
        assert payment is not None
        answer = await self.charge(ref, f"{ref}-try{payment['tries']}")
        if answer is not None and answer[0] == 200 and answer[1].get("status") == "succeeded":
            return self.succeeded(ref, answer[1]["id"])
        if answer is not None and answer[0] == 402:
            with self.db:
                self.db.execute("update payments set state = 'declined' where basket_ref = ?",
                                (ref,))  # fmt: skip
            message = str((answer[1].get("error") or {}).get("message") or "declined")
            return Reply(402, _problem(402, "card declined", message))
        found = await self.search(ref)
        if found is not None:
            return self.succeeded(ref, found)
        return Reply(202, {"basket": self.shown(ref), "payment": {"state": "processing"}}, False)

    async def search(self, ref: str) -> str | None:
        query = f"metadata['basket_ref']:'{ref}' AND status:'succeeded'"
        answer = await self.call("GET", "/v1/payment_intents/search", params={"query": query})
        if answer is None or answer[0] != 200 or not answer[1].get("data"):
            return None
        return str(answer[1]["data"][0]["id"])

    def succeeded(self, ref: str, intent: str) -> Reply:
        with self.db:
            self.db.execute("update baskets set paid = 1 where ref = ?", (ref,))
            self.db.execute(
                "update payments set state = 'succeeded', intent = ? where basket_ref = ?",
                (intent, ref),
            )
        return Reply(200, {"basket": self.shown(ref), "payment": {"ref": intent}})

    async def pay_blindly(self, ref: str, card: str) -> Reply:
        with self.db:
            self.db.execute(
                "insert or replace into payments values (?, 'started', 0, ?, null, ?)",
                (ref, card, time.time()),
            )
        answer = await self.charge(ref, None)
        if answer is not None and answer[0] == 200:
            return self.succeeded(ref, answer[1]["id"])
        return Reply(502, _problem(502, "payment failed", "the provider did not confirm"))

    async def reconcile(self, min_age_s: float = 1.0) -> None:
        rows = self.db.execute(
            "select basket_ref from payments where state = 'started' and started_at < ?",
            (time.time() - min_age_s,),
        ).fetchall()
        for (ref,) in rows:
            async with self.locks.setdefault(ref, asyncio.Lock()):
                payment = self.payment(ref)
                if payment is not None and payment["state"] == "started":
                    await self.drive(ref)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


# -- HTTP ---------------------------------------------------------------------------------


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def new_basket(request: Request) -> Response:
    shopper = request.headers.get("x-shopper")
    if not shopper:
        return problem(401, "X-Shopper required", "name the shopper in X-Shopper")
    data = await _json(request)
    item, count = data.get("item"), data.get("count", 1)
    if item not in ITEMS or not isinstance(count, int) or not 1 <= count <= 5:
        return problem(422, "bad basket", f"item one of {sorted(ITEMS)}, count 1 to 5")
    store = _store(request)
    ref = store.new_basket(shopper, item, count)
    return JSONResponse({"basket": store.shown(ref)}, 201)


async def show_basket(request: Request) -> Response:
    store = _store(request)
    row = store.basket(request.path_params["basket"])
    if row is None or row["shopper"] != request.headers.get("x-shopper"):
        return problem(404, "no such basket", "check the basket ref")
    return JSONResponse({"basket": store.shown(row["ref"])})


async def put_payment(request: Request) -> Response:
    store = _store(request)
    shopper = request.headers.get("x-shopper")
    ref = request.path_params["basket"]
    row = store.basket(ref)
    if shopper is None or row is None or row["shopper"] != shopper:
        return problem(404, "no such basket", "check the basket ref")
    data = await _json(request)
    card = str(data.get("card") or "pm_card_visa")
    if store.broken == "no_dedupe":
        reply = await store.pay(ref, card)
        return _send(reply)
    key = request.headers.get("x-request-key")
    if not key:
        return problem(400, "X-Request-Key required", "send one unique X-Request-Key per payment")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    async with store.locks.setdefault(ref, asyncio.Lock()):
        seen = store.db.execute(
            "select digest, code, payload from replies where shopper = ? and request_key = ?",
            (shopper, key),
        ).fetchone()
        if seen is not None:
            if seen["digest"] != digest:
                return problem(422, "X-Request-Key reused", "that key came with another body")
            return Response(seen["payload"], seen["code"], media_type=_media(seen["code"]))
        reply = await store.pay(ref, card)
        if reply.final and reply.code < 500:
            with store.db:
                store.db.execute(
                    "insert into replies values (?, ?, ?, ?, ?)",
                    (shopper, key, digest, reply.code, json.dumps(reply.payload)),
                )
        return _send(reply)


def _send(reply: Reply) -> Response:
    headers = {} if reply.final else {"Retry-After": "1"}
    return Response(json.dumps(reply.payload), reply.code, headers, _media(reply.code))


def _media(code: int) -> str:
    return "application/json" if code < 400 else "application/problem+json"


# -- the process --------------------------------------------------------------------------


def create_app() -> Starlette:
    broken = os.environ.get("BROKEN", "")
    if broken not in MODES:
        raise SystemExit(f"BROKEN={broken!r} is not one of {MODES}")
    db = sqlite3.connect(os.environ.get("SHOP_DB", ":memory:"), isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("pragma journal_mode = wal")
    db.execute("pragma synchronous = full")
    db.executescript(SCHEMA)
    store = Store(
        db=db,
        provider_url=os.environ["SHOP_PROVIDER_URL"].rstrip("/"),
        api_key=os.environ.get("SHOP_API_KEY", "sk_test_nodouble"),
        broken=broken,
        timeout_s=float(os.environ.get("SHOP_PROVIDER_TIMEOUT_S", "3")),
    )

    async def reconciler() -> None:
        while True:
            with contextlib.suppress(Exception):
                await store.reconcile()
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=store.timeout_s) as http:
            store.http = http
            # a checkout with no dedupe has no journal worth reconciling either
            task = asyncio.create_task(reconciler()) if broken != "no_dedupe" else None
            yield
            if task is not None:
                task.cancel()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/v2/baskets", new_basket, methods=["POST"]),
            Route("/v2/baskets/{basket}", show_basket),
            Route("/v2/baskets/{basket}/payment", put_payment, methods=["PUT"]),
        ],
        lifespan=lifespan,
    )
    app.state.store = store
    return app


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ["SHOP_PORT"]),
                log_level="warning")  # fmt: skip
