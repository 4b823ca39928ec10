"""two_step: a checkout that pays in two provider calls, create the PaymentIntent, then confirm.

API: ``POST /session {"user"}`` sets the ``sid`` cookie; ``POST /orders {"sku", "qty"}``
makes an order; ``POST /orders/{id}/pay`` (header ``Idempotency-Key``, body
``{"payment_method"}``) pays it; ``GET /orders/{id}`` reads it back. Errors are
problem+json. State lives in SQLite (``SHOP_DB``), so a SIGKILL loses nothing committed.

Paying is two provider calls: ``POST /v1/payment_intents`` (no ``confirm``) and
``POST /v1/payment_intents/{id}/confirm``, each with the checkout's own provider key
derived from the order and its attempt number. Before the first call the order is marked
``pending`` in the database; a provider error, timeout or lost answer leaves it pending,
the client gets 202 with ``Retry-After``, and a reconciler (every 0.5 s, and at start-up)
drives pending orders to an end by asking the provider about the intent and repeating the
same calls with the same provider keys, which the provider replays instead of charging.

Environment: ``SHOP_PORT``, ``SHOP_PROVIDER_URL``, ``SHOP_API_KEY`` (``sk_test_nodouble``),
``SHOP_DB``, ``SHOP_PROVIDER_TIMEOUT_S`` (3) and ``BROKEN``:

- ``release_on_error``: a provider error or timeout deletes the payment record (intent id,
  pending mark) and answers 502; provider keys are fresh per attempt, so the client's retry
  creates and confirms a second intent: two charges when the first one did go through.
- ``fresh_key_on_409``: no lock per order, the provider key alone dedupes; when the
  provider answers 409 ``idempotency_key_in_use`` the checkout starts over with a fresh
  provider key, so a second confirm (another client key) arriving while the provider is
  still charging the first creates and charges a second intent.
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

MODES = ("", "release_on_error", "fresh_key_on_409")
PRICES = {"lamp": 4200, "mug": 1500}
SCHEMA = """
create table if not exists orders (
    id text primary key,            -- ord_<hex>, also metadata[order_id] at the provider
    owner text not null,            -- the signed-in user who made it
    amount integer not null,        -- minor units, computed from the catalog
    status text not null,           -- open | pending | paid
    attempt integer not null default 0,  -- bumped after a decline: a new intent next time
    nonce text not null default '', -- part of the provider keys (fresh per attempt when broken)
    intent_id text,                 -- the PaymentIntent of the current attempt, once created
    payment_method text,            -- what the customer chose for the current attempt
    pending_since real              -- unix time the current attempt began
);
create table if not exists answers (
    owner text not null,
    key text not null,              -- the client's Idempotency-Key, scoped to its user
    fingerprint text not null,      -- sha256 of the canonical request body
    status integer not null,
    body text not null,
    primary key (owner, key)
);
"""


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


@dataclass
class Outcome:
    """What paying came to: a final answer, or ``pending`` (ask again later)."""

    status: int
    body: dict[str, Any]
    final: bool = True


@dataclass
class Shop:
    db: sqlite3.Connection
    provider_url: str
    api_key: str
    broken: str
    timeout_s: float
    client: httpx.AsyncClient | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    # -- storage ----------------------------------------------------------------------------

    def order(self, order_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "select * from orders where id = ?", (order_id,)
        ).fetchone()
        return row

    def update(self, order_id: str, **values: Any) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.db:
            self.db.execute(f"update orders set {sets} where id = ?", (*values.values(), order_id))

    def view(self, order_id: str) -> dict[str, Any]:
        row = self.order(order_id)
        assert row is not None
        return {"order_id": row["id"], "amount": row["amount"], "currency": "eur",
                "status": row["status"]}  # fmt: skip

    # -- the provider -----------------------------------------------------------------------

    async def provider(self, path: str, form: dict[str, str] | None, key: str | None) -> Any:
        """One provider call: the JSON answer with its status, or ``None`` if none came."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if key:
            headers["Idempotency-Key"] = key
        assert self.client is not None
        try:
            if form is None:
                answer = await self.client.get(self.provider_url + path, headers=headers)
            else:
                answer = await self.client.post(
                    self.provider_url + path, data=form, headers=headers
                )
            return answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            return None

    def keys(self, row: sqlite3.Row) -> tuple[str, str]:
        base = f"two-step-{row['id']}-{row['attempt']}{row['nonce']}"
        return f"{base}-create", f"{base}-confirm"

    # -- paying -----------------------------------------------------------------------------

    async def settle(self, order_id: str) -> Outcome:
        """Drive the order's current attempt as far as the provider lets us."""
        row = self.order(order_id)
        assert row is not None
        if row["status"] == "paid":
            return Outcome(200, self.view(order_id))
        create_key, confirm_key = self.keys(row)
        intent_id = row["intent_id"]
        if intent_id is None:
            form = {
                "amount": str(row["amount"]),
                "currency": "eur",
                "payment_method": row["payment_method"],
                "metadata[order_id]": row["id"],
                "metadata[attempt]": f"{row['attempt']}{row['nonce']}",
            }
            answer = await self.provider("/v1/payment_intents", form, create_key)
            if answer is not None and answer[0] == 200:
                intent_id = answer[1]["id"]
            elif self.broken != "release_on_error":  # a stored 500 replays forever: search
                intent_id = await self.find_intent(order_id, row["attempt"], row["nonce"])
            if intent_id is None:
                return await self.unsettled(order_id, answer)
            self.update(order_id, intent_id=intent_id)
        answer = await self.provider(f"/v1/payment_intents/{intent_id}/confirm", {}, confirm_key)
        if answer is not None and answer[0] == 200 and answer[1].get("status") == "succeeded":
            return self.paid(order_id)
        if answer is not None and answer[0] == 402:
            return self.declined(order_id, answer[1])
        return await self.unsettled(order_id, answer)

    async def find_intent(self, order_id: str, attempt: int, nonce: str) -> str | None:
        """The intent this attempt created, found by its metadata."""
        query = f"metadata['order_id']:'{order_id}' AND metadata['attempt']:'{attempt}{nonce}'"
        assert self.client is not None
        try:
            answer = await self.client.get(
                self.provider_url + "/v1/payment_intents/search",
                params={"query": query},
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
            found = answer.json().get("data") or [] if answer.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return None
        return str(found[0]["id"]) if found else None

    async def unsettled(self, order_id: str, answer: Any) -> Outcome:
        """The provider gave no clear answer: ask it about the intent, or stay pending."""
        if self.broken == "fresh_key_on_409" and _in_use(answer):
            self.update(order_id, nonce=f"-{uuid.uuid4().hex[:8]}", intent_id=None)
            return await self.settle(order_id)
        if self.broken == "release_on_error":
            self.update(order_id, status="open", intent_id=None, nonce=f"-{uuid.uuid4().hex[:8]}")
            return Outcome(502, _problem(502, "payment failed", "the provider failed; try again"))
        row = self.order(order_id)
        assert row is not None
        if row["intent_id"] is not None:
            look = await self.provider(f"/v1/payment_intents/{row['intent_id']}", None, None)
            state = look[1].get("status") if look is not None and look[0] == 200 else None
            if state == "succeeded":
                return self.paid(order_id)
            if state == "requires_payment_method":
                error = (look[1].get("last_payment_error") or {}) if look else {}
                return self.declined(order_id, {"error": error})
        return Outcome(202, {"order_id": order_id, "status": "pending"}, final=False)

    def paid(self, order_id: str) -> Outcome:
        self.update(order_id, status="paid")
        return Outcome(200, self.view(order_id))

    def declined(self, order_id: str, answer: dict[str, Any]) -> Outcome:
        row = self.order(order_id)
        assert row is not None
        self.update(order_id, status="open", attempt=row["attempt"] + 1, intent_id=None)
        message = str((answer.get("error") or {}).get("message") or "card declined")
        return Outcome(402, _problem(402, "card declined", message))

    async def reconcile(self, min_age_s: float = 1.0) -> None:
        """Settle every order pending for ``min_age_s`` or more, each under its lock."""
        pending = [row["id"] for row in self.db.execute(
            "select id from orders where status = 'pending' and pending_since < ?",
            (time.time() - min_age_s,),
        )]  # fmt: skip
        for order_id in pending:
            async with self.locks.setdefault(order_id, asyncio.Lock()):
                row = self.order(order_id)
                if row is not None and row["status"] == "pending":
                    await self.settle(order_id)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def _in_use(answer: Any) -> bool:
    return (
        answer is not None
        and answer[0] == 409
        and (answer[1].get("error") or {}).get("code") == "idempotency_key_in_use"
    )


# -- HTTP ---------------------------------------------------------------------------------------


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def sign_in(request: Request) -> Response:
    user = (await _json(request)).get("user")
    if not isinstance(user, str) or not user:
        return problem(400, "user required", 'send {"user": "<name>"}')
    response = Response(status_code=204)
    response.set_cookie("sid", user, httponly=True, samesite="lax")
    return response


async def create_order(request: Request) -> Response:
    user = request.cookies.get("sid")
    if not user:
        return problem(401, "sign in first", "POST /session")
    data = await _json(request)
    sku, qty = data.get("sku"), data.get("qty", 1)
    if sku not in PRICES or not isinstance(qty, int) or not 1 <= qty <= 10:
        return problem(422, "bad order", f"sku one of {sorted(PRICES)}, qty 1 to 10")
    shop = _shop(request)
    order_id = f"ord_{uuid.uuid4().hex[:16]}"
    with shop.db:
        shop.db.execute(
            "insert into orders (id, owner, amount, status) values (?, ?, ?, 'open')",
            (order_id, user, PRICES[sku] * qty),
        )
    return JSONResponse(shop.view(order_id), 201)


async def read_order(request: Request) -> Response:
    shop = _shop(request)
    row = shop.order(request.path_params["order_id"])
    if row is None or row["owner"] != request.cookies.get("sid"):
        return problem(404, "no such order", "check the order id")
    return JSONResponse(shop.view(row["id"]))


async def pay(request: Request) -> Response:
    shop = _shop(request)
    user = request.cookies.get("sid")
    order_id = request.path_params["order_id"]
    row = shop.order(order_id)
    if user is None or row is None or row["owner"] != user:
        return problem(404, "no such order", "check the order id")
    key = request.headers.get("idempotency-key")
    if not key:
        return problem(400, "Idempotency-Key required", "send a unique key per payment")
    data = await _json(request)
    method = data.get("payment_method") or "pm_card_visa"
    fingerprint = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    if shop.broken == "fresh_key_on_409":  # trusts the provider key to dedupe: no lock
        return await _pay(shop, user, key, fingerprint, order_id, method)
    async with shop.locks.setdefault(order_id, asyncio.Lock()):
        return await _pay(shop, user, key, fingerprint, order_id, method)


async def _pay(
    shop: Shop, user: str, key: str, fingerprint: str, order_id: str, method: str
) -> Response:
    stored = shop.db.execute(
        "select fingerprint, status, body from answers where owner = ? and key = ?", (user, key)
    ).fetchone()
    if stored is not None:
        if stored["fingerprint"] != fingerprint:
            return problem(422, "Idempotency-Key reused", "this key was sent with another body")
        return Response(stored["body"], stored["status"], media_type=_media(stored["status"]))
    row = shop.order(order_id)
    assert row is not None
    if row["status"] == "open":
        shop.update(order_id, status="pending", payment_method=method, pending_since=time.time())
    outcome = await shop.settle(order_id)
    if not outcome.final:
        return JSONResponse(outcome.body, outcome.status, headers={"Retry-After": "1"})
    text = json.dumps(outcome.body)
    if outcome.status < 500:
        with shop.db:
            shop.db.execute(
                "insert or ignore into answers values (?, ?, ?, ?, ?)",
                (user, key, fingerprint, outcome.status, text),
            )
    return Response(text, outcome.status, media_type=_media(outcome.status))


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
        async with httpx.AsyncClient(timeout=shop.timeout_s) as client:
            shop.client = client
            task = asyncio.create_task(reconciler())
            yield
            task.cancel()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/session", sign_in, methods=["POST"]),
            Route("/orders", create_order, methods=["POST"]),
            Route("/orders/{order_id}", read_order),
            Route("/orders/{order_id}/pay", pay, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.shop = shop
    return app


if __name__ == "__main__":
    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ["SHOP_PORT"]),
                log_level="warning")  # fmt: skip
