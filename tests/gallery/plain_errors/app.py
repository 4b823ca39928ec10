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

import json
import time
import uuid
from typing import Any

import _shopkit as kit
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
"""


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


class App(kit.SqlShop):
    """Orders, answers per (scope, key), and paying in one provider call."""

    KEY = "order_id"
    PENDING = "select order_id from orders where state = 'CHARGING' and charging_since < ?"
    STILL_PENDING = "select 1 from orders where order_id = ? and state = 'CHARGING'"

    def public(self, order_id: str) -> dict[str, Any]:
        row = self.row(order_id)
        assert row is not None
        return {"order_id": row["order_id"], "total": row["total"], "state": row["state"]}

    async def charge(self, order_id: str) -> kit.Result:
        """Pay the order; a 503 (not final: nothing is stored) when the outcome is unknown."""
        row = self.row(order_id)
        assert row is not None
        if row["state"] == "PAID":
            return kit.Result(200, self.public(order_id))
        form = {"amount": str(row["total"]), "currency": "eur", "confirm": "true",
                "payment_method": row["card"], "metadata[order_id]": order_id}  # fmt: skip
        key = f"pe-{order_id}-{row['attempt']}"
        answer = await self.provider(
            "POST", "/v1/payment_intents", data=form, headers=kit.idempotency(key)
        )
        if kit.succeeded(answer):
            self.update(order_id, state="PAID")
            return kit.Result(200, self.public(order_id))
        if answer is not None and answer[0] == 402:
            self.update(order_id, state="NEW", attempt=row["attempt"] + 1)
            return kit.Result(402, {"error": "card declined"})
        if await self.search(f"metadata['order_id']:'{order_id}' AND status:'succeeded'"):
            self.update(order_id, state="PAID")
            return kit.Result(200, self.public(order_id))
        body = {"error": "the payment provider did not answer; retry shortly"}
        return kit.Result(503, body, final=False)

    async def resume(self, key: str) -> kit.Result:
        return await self.charge(key)


# -- HTTP -------------------------------------------------------------------------------------


def _login(request: Request) -> str | None:
    token = kit.bearer(request) or request.cookies.get("tok")
    return token.removeprefix("t.") if token and token.startswith("t.") else None


async def login(request: Request) -> Response:
    name = (await kit.read_json(request)).get("login")
    if not isinstance(name, str) or not name:
        return error(400, 'send {"login": "<name>"}')
    return kit.set_session(JSONResponse({"token": f"t.{name}"}), "tok", f"t.{name}")


async def new_order(request: Request) -> Response:
    who = _login(request)
    if who is None:
        return error(401, "log in first")
    data = await kit.read_json(request)
    sku, quantity = data.get("sku"), data.get("quantity", 1)
    if sku not in CATALOG or not isinstance(quantity, int) or not 1 <= quantity <= 20:
        return error(422, f"sku must be one of {sorted(CATALOG)} and quantity 1 to 20")
    shop = kit.state(request, App)
    order_id = f"pe_{uuid.uuid4().hex[:16]}"
    with shop.db:
        shop.db.execute(
            "insert into orders (order_id, login, total, state) values (?, ?, ?, 'NEW')",
            (order_id, who, CATALOG[sku] * quantity),
        )
    return JSONResponse(shop.public(order_id), 201)


async def get_order(request: Request) -> Response:
    shop = kit.state(request, App)
    row = shop.row(request.path_params["order_id"])
    if row is None or row["login"] != _login(request):
        return error(404, "no such order")
    return JSONResponse(shop.public(row["order_id"]))


async def checkout(request: Request) -> Response:
    shop = kit.state(request, App)
    who = _login(request)
    order_id = request.path_params["order_id"]
    row = shop.row(order_id)
    if who is None or row is None or row["login"] != who:
        return error(404, "no such order")
    key = request.headers.get("idempotency-key")
    if not key:
        return error(400, "an Idempotency-Key header is required")
    data = await kit.read_json(request)
    digest = kit.fingerprint(data)
    scope = "" if shop.broken == "cross_user_replay" else who
    async with shop.lock(order_id):
        stored = shop.replay(scope, key)
        if stored is not None:
            if stored["digest"] != digest:
                return error(422, "this Idempotency-Key was used with another request")
            return Response(stored["body"], stored["status"], media_type="application/json")
        current = shop.row(order_id)
        assert current is not None
        if current["state"] == "NEW":
            card = str(data.get("card") or "pm_card_visa")
            shop.update(order_id, state="CHARGING", card=card, charging_since=time.time())
        answer = await shop.charge(order_id)
        text = json.dumps(answer.body)
        if answer.final:
            shop.remember(scope, key, digest, answer.status, text, or_ignore=True)
        return Response(text, answer.status, media_type="application/json")


# -- the process ------------------------------------------------------------------------------


async def crash(request: Request, exc: Exception) -> Response:
    return error(500, "internal error")


def create_app() -> Starlette:
    return App.from_env(MODES, SCHEMA, kit.REPLAYS_SCHEMA).app([
        Route("/healthz", kit.healthz),
        Route("/api/login", login, methods=["POST"]),
        Route("/api/orders", new_order, methods=["POST"]),
        Route("/api/orders/{order_id}", get_order),
        Route("/api/orders/{order_id}/checkout", checkout, methods=["POST"]),
    ], exception_handlers={Exception: crash})  # fmt: skip


if __name__ == "__main__":
    kit.serve(create_app())
