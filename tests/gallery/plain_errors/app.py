"""plain_errors: a correct checkout whose errors are plain JSON, ``{"error": "..."}``, 5xx too.

API: ``POST /api/login {"login"}`` → ``{"token"}`` and the ``tok`` cookie;
``POST /api/orders {"sku", "quantity"}`` → ``{"order_id", "total", "state": "NEW"}``;
``POST /api/orders/{id}/checkout`` (``Idempotency-Key``, body ``{"card"}``) pays;
``GET /api/orders/{id}`` reads it (``state`` ``NEW``, ``CHARGING`` or ``PAID``).

It never answers ``application/problem+json``: a refusal is a 4xx and a provider outage
a 503, both ``{"error": "..."}`` (a hygiene finding, not a money one). It pays in one
provider call (``confirm=true``) under a provider key derived from the order and its
attempt; the order is ``CHARGING`` in SQLite before the call, an unknown outcome answers
503 without storing anything under the client's key, and the reconciler (every 0.5 s and
at start-up) searches the provider by ``metadata['order_id']`` and otherwise repeats the
call under the same provider key.

Environment: ``SHOP_PORT``, ``SHOP_PROVIDER_URL``, ``SHOP_API_KEY``, ``SHOP_DB``,
``SHOP_PROVIDER_TIMEOUT_S`` (3) and ``BROKEN``:

- ``cross_user_replay``: answers are stored by Idempotency-Key alone, not per user, so a
  user who sends a key another user already used gets that user's answer (their order,
  their payment) and nothing happens to their own order.
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

MODES = ("", "cross_user_replay")
CATALOG = {"socks": 900, "scarf": 3100}
SCHEMA = """
create table if not exists orders (
    order_id text primary key,   -- metadata[order_id]
    login text not null,
    total integer not null,
    state text not null,         -- NEW | CHARGING | PAID
    attempt integer not null default 0,
    card text,
    charging_since real
);
create table if not exists idempotency (
    scope text not null,         -- the user's login ('' when BROKEN=cross_user_replay)
    key text not null,
    request_hash text not null,
    status integer not null,
    body text not null,
    primary key (scope, key)
);
"""


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.status < 500


@dataclass
class App:
    db: sqlite3.Connection
    provider_url: str
    api_key: str
    broken: str
    timeout_s: float
    client: httpx.AsyncClient | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def load(self, order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from orders where order_id = ?", (order_id,)
        ).fetchone()
        return row

    def public(self, order_id: str) -> dict[str, Any]:
        row = self.load(order_id)
        assert row is not None
        return {"order_id": row["order_id"], "total": row["total"], "state": row["state"]}

    def mark(self, order_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.db:
            self.db.execute(
                f"update orders set {sets} where order_id = ?", (*values.values(), order_id)
            )

    async def provider(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any] | None:
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        assert self.client is not None
        try:
            answer = await self.client.request(
                method, self.provider_url + path, headers=headers, **kwargs
            )
            return answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            return None

    async def charge(self, order_id: str) -> Answer:
        row = self.load(order_id)
        assert row is not None
        if row["state"] == "PAID":
            return Answer(200, self.public(order_id))
        form = {"amount": str(row["total"]), "currency": "eur", "confirm": "true",
                "payment_method": row["card"], "metadata[order_id]": order_id}  # fmt: skip
        key = f"pe-{order_id}-{row['attempt']}"
        answer = await self.provider(
            "POST", "/v1/payment_intents", data=form, headers={"Idempotency-Key": key}
        )
        if answer is not None and answer[0] == 200 and answer[1].get("status") == "succeeded":
            self.mark(order_id, state="PAID")
            return Answer(200, self.public(order_id))
        if answer is not None and answer[0] == 402:
            self.mark(order_id, state="NEW", attempt=row["attempt"] + 1)
            return Answer(402, {"error": "card declined"})
        query = f"metadata['order_id']:'{order_id}' AND status:'succeeded'"
        found = await self.provider("GET", "/v1/payment_intents/search", params={"query": query})
        if found is not None and found[0] == 200 and found[1].get("data"):
            self.mark(order_id, state="PAID")
            return Answer(200, self.public(order_id))
        return Answer(503, {"error": "the payment provider did not answer; retry shortly"})

    async def reconcile(self, min_age_s: float = 1.0) -> None:
        rows = self.db.execute(
            "select order_id from orders where state = 'CHARGING' and charging_since < ?",
            (time.time() - min_age_s,),
        ).fetchall()
        for (order_id,) in rows:
            async with self.locks.setdefault(order_id, asyncio.Lock()):
                row = self.load(order_id)
                if row is not None and row["state"] == "CHARGING":
                    await self.charge(order_id)


# -- HTTP -------------------------------------------------------------------------------------


def _app(request: Request) -> App:
    app: App = request.app.state.shop
    return app


def _login(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
    token = token or request.cookies.get("tok")
    return token.removeprefix("t.") if token and token.startswith("t.") else None


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def login(request: Request) -> Response:
    data = await _body(request) or {}
    name = data.get("login")
    if not isinstance(name, str) or not name:
        return error(400, 'send {"login": "<name>"}')
    response = JSONResponse({"token": f"t.{name}"})
    response.set_cookie("tok", f"t.{name}", httponly=True)
    return response


async def new_order(request: Request) -> Response:
    who = _login(request)
    if who is None:
        return error(401, "log in first")
    data = await _body(request) or {}
    sku, quantity = data.get("sku"), data.get("quantity", 1)
    if sku not in CATALOG or not isinstance(quantity, int) or not 1 <= quantity <= 20:
        return error(422, f"sku must be one of {sorted(CATALOG)} and quantity 1 to 20")
    shop = _app(request)
    order_id = f"pe_{uuid.uuid4().hex[:16]}"
    with shop.db:
        shop.db.execute(
            "insert into orders (order_id, login, total, state) values (?, ?, ?, 'NEW')",
            (order_id, who, CATALOG[sku] * quantity),
        )
    return JSONResponse(shop.public(order_id), 201)


async def get_order(request: Request) -> Response:
    shop = _app(request)
    row = shop.load(request.path_params["order_id"])
    if row is None or row["login"] != _login(request):
        return error(404, "no such order")
    return JSONResponse(shop.public(row["order_id"]))


async def checkout(request: Request) -> Response:
    shop = _app(request)
    who = _login(request)
    order_id = request.path_params["order_id"]
    row = shop.load(order_id)
    if who is None or row is None or row["login"] != who:
        return error(404, "no such order")
    key = request.headers.get("idempotency-key")
    if not key:
        return error(400, "an Idempotency-Key header is required")
    data = await _body(request) or {}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    scope = "" if shop.broken == "cross_user_replay" else who
    async with shop.locks.setdefault(order_id, asyncio.Lock()):
        stored = shop.db.execute(
            "select request_hash, status, body from idempotency where scope = ? and key = ?",
            (scope, key),
        ).fetchone()
        if stored is not None:
            if stored["request_hash"] != digest:
                return error(422, "this Idempotency-Key was used with another request")
            return Response(stored["body"], stored["status"], media_type="application/json")
        current = shop.load(order_id)
        assert current is not None
        if current["state"] == "NEW":
            card = str(data.get("card") or "pm_card_visa")
            shop.mark(order_id, state="CHARGING", card=card, charging_since=time.time())
        answer = await shop.charge(order_id)
        text = json.dumps(answer.body)
        if answer.final:
            with shop.db:
                shop.db.execute(
                    "insert or ignore into idempotency values (?, ?, ?, ?, ?)",
                    (scope, key, digest, answer.status, text),
                )
        return Response(text, answer.status, media_type="application/json")


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
    shop = App(
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
        async with httpx.AsyncClient(timeout=shop.timeout_s) as client:
            shop.client = client
            task = asyncio.create_task(reconciler())
            yield
            task.cancel()

    async def crash(request: Request, exc: Exception) -> Response:
        return error(500, "internal error")

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/login", login, methods=["POST"]),
            Route("/api/orders", new_order, methods=["POST"]),
            Route("/api/orders/{order_id}", get_order),
            Route("/api/orders/{order_id}/checkout", checkout, methods=["POST"]),
        ],
        lifespan=lifespan,
        exception_handlers={Exception: crash},
    )
    app.state.shop = shop
    return app


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ["SHOP_PORT"]),
                log_level="warning")  # fmt: skip
