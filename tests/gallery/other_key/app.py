"""other_key: a checkout on its own test account that authorises first and captures after.

API: ``POST /login`` (form ``username=...``) sets the ``shop_session`` cookie and
redirects; ``POST /checkout/orders {"product", "quantity"}`` → ``{"id", "amount_due",
"payment_status"}``; ``POST /checkout/orders/{id}/payments`` (``Idempotency-Key``, body
``{"method"}``) pays; ``GET /checkout/orders/{id}`` reads it. Errors are problem+json.

It talks to the provider with its own API key (``SHOP_API_KEY``, e.g.
``sk_test_gallery_other``: its own account at the fake) and pays in two steps like a shop
that ships before it takes the money: ``POST /v1/payment_intents`` with ``confirm=true``
and ``capture_method=manual`` authorises, then ``POST /v1/payment_intents/{id}/capture``
moves the money. Both carry provider keys derived from the order and its attempt. The
order is marked ``processing`` in SQLite before the first call; whatever answer is lost,
the reconciler (every 0.5 s, and at start-up) reads the intent and finishes the capture
under the same provider key.

Environment: ``SHOP_PORT``, ``SHOP_PROVIDER_URL``, ``SHOP_API_KEY``, ``SHOP_DB``,
``SHOP_PROVIDER_TIMEOUT_S`` (3) and ``BROKEN``:

- ``shows_unpaid``: pays exactly like the correct checkout, but its read endpoint never
  learned about the ``paid`` state and keeps answering ``unpaid``.
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
from urllib.parse import parse_qs

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

MODES = ("", "shows_unpaid")
PRODUCTS = {"poster": 1800, "frame": 5400}
SCHEMA = """
create table if not exists orders (
    id text primary key,                 -- o_<hex>; metadata[order_id] at the provider
    customer text not null,
    amount_due integer not null,         -- minor units
    payment_status text not null,        -- unpaid | processing | paid
    attempt integer not null default 0,  -- next attempt after a decline
    method text,                         -- payment method of the current attempt
    intent text,                         -- pi_... once authorised
    since real                           -- when the current attempt began
);
create table if not exists receipts (
    customer text not null,
    idem_key text not null,
    body_hash text not null,
    status integer not null,
    body text not null,
    primary key (customer, idem_key)
);
"""


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


@dataclass
class Result:
    status: int
    body: dict[str, Any]
    settled: bool = True


@dataclass
class Checkout:
    db: sqlite3.Connection
    provider_url: str
    api_key: str
    broken: str
    timeout_s: float
    http: httpx.AsyncClient | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def get(self, order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from orders where id = ?", (order_id,)
        ).fetchone()
        return row

    def set(self, order_id: str, **values: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.db:
            self.db.execute(f"update orders set {sets} where id = ?", (*values.values(), order_id))

    def show(self, order_id: str, *, reading: bool = False) -> dict[str, Any]:
        row = self.get(order_id)
        assert row is not None
        status = row["payment_status"]
        if reading and self.broken == "shows_unpaid":
            status = "unpaid"  # the bug: the read model was never taught about payments
        return {"id": row["id"], "amount_due": row["amount_due"], "payment_status": status}

    async def stripe(
        self, path: str, form: dict[str, str] | None, key: str | None, query: str = ""
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if key:
            headers["Idempotency-Key"] = key
        assert self.http is not None
        try:
            if form is None:
                params = {"query": query} if query else None
                answer = await self.http.get(
                    self.provider_url + path, headers=headers, params=params
                )
            else:
                answer = await self.http.post(self.provider_url + path, data=form, headers=headers)
            return answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            return None

    async def advance(self, order_id: str) -> Result:
        """Authorise, then capture; each step repeatable under its own provider key."""
        row = self.get(order_id)
        assert row is not None
        if row["payment_status"] == "paid":
            return Result(200, self.show(order_id))
        prefix = f"ok-{order_id}-a{row['attempt']}"
        intent = row["intent"]
        if intent is None:
            form = {
                "amount": str(row["amount_due"]), "currency": "usd", "confirm": "true",
                "capture_method": "manual", "payment_method": row["method"],
                "metadata[order_id]": order_id,
            }  # fmt: skip
            answer = await self.stripe("/v1/payment_intents", form, f"{prefix}-authorize")
            if answer is not None and answer[0] == 402:
                return self.declined(order_id, answer[1])
            if answer is not None and answer[0] == 200:
                intent = answer[1]["id"]
            else:  # a stored 500 replays forever: find the authorisation by its metadata
                intent = await self.find_authorised(order_id)
            if intent is None:
                return Result(202, {**self.show(order_id), "retry": True}, settled=False)
            self.set(order_id, intent=intent)
        answer = await self.stripe(f"/v1/payment_intents/{intent}/capture", {}, f"{prefix}-capture")
        if answer is not None and answer[0] == 200 and answer[1].get("status") == "succeeded":
            return self.paid(order_id)
        look = await self.stripe(f"/v1/payment_intents/{intent}", None, None)
        if look is not None and look[0] == 200 and look[1].get("status") == "succeeded":
            return self.paid(order_id)
        return Result(202, {**self.show(order_id), "retry": True}, settled=False)

    async def find_authorised(self, order_id: str) -> str | None:
        query = f"metadata['order_id']:'{order_id}'"
        found = await self.stripe("/v1/payment_intents/search", None, None, query)
        if found is None or found[0] != 200:
            return None
        for intent in found[1].get("data") or []:
            if intent.get("status") in ("requires_capture", "succeeded"):
                return str(intent["id"])
        return None

    def paid(self, order_id: str) -> Result:
        self.set(order_id, payment_status="paid")
        return Result(200, self.show(order_id))

    def declined(self, order_id: str, answer: dict[str, Any]) -> Result:
        row = self.get(order_id)
        assert row is not None
        self.set(order_id, payment_status="unpaid", attempt=row["attempt"] + 1, intent=None)
        message = str((answer.get("error") or {}).get("message") or "declined")
        return Result(402, _problem(402, "card declined", message))

    async def reconcile(self, min_age_s: float = 1.0) -> None:
        rows = self.db.execute(
            "select id from orders where payment_status = 'processing' and since < ?",
            (time.time() - min_age_s,),
        ).fetchall()
        for (order_id,) in rows:
            async with self.locks.setdefault(order_id, asyncio.Lock()):
                row = self.get(order_id)
                if row is not None and row["payment_status"] == "processing":
                    await self.advance(order_id)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


# -- HTTP -------------------------------------------------------------------------------------


def _checkout(request: Request) -> Checkout:
    checkout: Checkout = request.app.state.checkout
    return checkout


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode(errors="replace"))
    name = (form.get("username") or [""])[0]
    if not name:
        return problem(400, "username required", "post the form field username")
    response = RedirectResponse("/checkout", 303)
    response.set_cookie("shop_session", name, httponly=True, samesite="lax")
    return response


async def create_order(request: Request) -> Response:
    customer = request.cookies.get("shop_session")
    if not customer:
        return problem(401, "sign in first", "POST /login")
    try:
        data = await request.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return problem(400, "JSON body required", 'send {"product": ..., "quantity": ...}')
    product, quantity = data.get("product"), data.get("quantity", 1)
    if product not in PRODUCTS or not isinstance(quantity, int) or not 1 <= quantity <= 9:
        return problem(422, "bad order", f"product one of {sorted(PRODUCTS)}, quantity 1 to 9")
    checkout = _checkout(request)
    order_id = f"o_{uuid.uuid4().hex[:16]}"
    with checkout.db:
        checkout.db.execute(
            "insert into orders (id, customer, amount_due, payment_status) "
            "values (?, ?, ?, 'unpaid')",
            (order_id, customer, PRODUCTS[product] * quantity),
        )
    return JSONResponse(checkout.show(order_id), 201)


async def read_order(request: Request) -> Response:
    checkout = _checkout(request)
    row = checkout.get(request.path_params["order_id"])
    if row is None or row["customer"] != request.cookies.get("shop_session"):
        return problem(404, "no such order", "check the order id")
    return JSONResponse(checkout.show(row["id"], reading=True))


async def pay(request: Request) -> Response:
    checkout = _checkout(request)
    customer = request.cookies.get("shop_session")
    order_id = request.path_params["order_id"]
    row = checkout.get(order_id)
    if customer is None or row is None or row["customer"] != customer:
        return problem(404, "no such order", "check the order id")
    key = request.headers.get("idempotency-key")
    if not key:
        return problem(400, "Idempotency-Key required", "send one unique key per payment")
    try:
        data = await request.json()
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    body_hash = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    async with checkout.locks.setdefault(order_id, asyncio.Lock()):
        receipt = checkout.db.execute(
            "select body_hash, status, body from receipts where customer = ? and idem_key = ?",
            (customer, key),
        ).fetchone()
        if receipt is not None:
            if receipt["body_hash"] != body_hash:
                return problem(422, "Idempotency-Key reused", "the key came with another body")
            status = receipt["status"]
            return Response(receipt["body"], status, media_type=_media(status))
        current = checkout.get(order_id)
        assert current is not None
        if current["payment_status"] == "unpaid":
            method = str(data.get("method") or "pm_card_visa")
            checkout.set(order_id, payment_status="processing", method=method, since=time.time())
        result = await checkout.advance(order_id)
        if not result.settled:
            return JSONResponse(result.body, result.status, headers={"Retry-After": "1"})
        text = json.dumps(result.body)
        with checkout.db:
            checkout.db.execute(
                "insert into receipts values (?, ?, ?, ?, ?)",
                (customer, key, body_hash, result.status, text),
            )
        return Response(text, result.status, media_type=_media(result.status))


def _media(status: int) -> str:
    return "application/json" if status < 400 else "application/problem+json"


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
    checkout = Checkout(
        db=db,
        provider_url=os.environ["SHOP_PROVIDER_URL"].rstrip("/"),
        api_key=os.environ["SHOP_API_KEY"],
        broken=broken,
        timeout_s=float(os.environ.get("SHOP_PROVIDER_TIMEOUT_S", "3")),
    )

    async def reconciler() -> None:
        while True:
            with contextlib.suppress(Exception):
                await checkout.reconcile()
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=checkout.timeout_s) as http:
            checkout.http = http
            task = asyncio.create_task(reconciler())
            yield
            task.cancel()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/login", login, methods=["POST"]),
            Route("/checkout/orders", create_order, methods=["POST"]),
            Route("/checkout/orders/{order_id}", read_order),
            Route("/checkout/orders/{order_id}/payments", pay, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.checkout = checkout
    return app


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ["SHOP_PORT"]),
                log_level="warning")  # fmt: skip
