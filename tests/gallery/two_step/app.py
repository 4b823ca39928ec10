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
"""


class Shop(kit.SqlShop):
    """The orders, the answers stored per client key, and paying in two provider calls."""

    PENDING = "select id from orders where status = 'pending' and pending_since < ?"
    STILL_PENDING = "select 1 from orders where id = ? and status = 'pending'"

    def view(self, order_id: str) -> dict[str, Any]:
        row = self.row(order_id)
        assert row is not None
        return {"order_id": row["id"], "amount": row["amount"], "currency": "eur",
                "status": row["status"]}  # fmt: skip

    def keys(self, row: sqlite3.Row) -> tuple[str, str]:
        base = f"two-step-{row['id']}-{row['attempt']}{row['nonce']}"
        return f"{base}-create", f"{base}-confirm"

    # -- paying -----------------------------------------------------------------------------

    async def settle(self, order_id: str) -> kit.Result:
        """Drive the order's current attempt as far as the provider lets us."""
        row = self.row(order_id)
        assert row is not None
        if row["status"] == "paid":
            return kit.Result(200, self.view(order_id))
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
            answer = await self.provider(
                "POST", "/v1/payment_intents", data=form, headers=kit.idempotency(create_key)
            )
            if answer is not None and answer[0] == 200:
                intent_id = answer[1]["id"]
            elif self.broken != "release_on_error":  # a stored 500 replays forever: search
                intent_id = await self.find_intent(order_id, row["attempt"], row["nonce"])
            if intent_id is None:
                return await self.unsettled(order_id, answer)
            self.update(order_id, intent_id=intent_id)
        answer = await self.provider(
            "POST", f"/v1/payment_intents/{intent_id}/confirm", data={},
            headers=kit.idempotency(confirm_key),
        )  # fmt: skip
        if kit.succeeded(answer):
            return self.paid(order_id)
        if answer is not None and answer[0] == 402:
            return self.declined(order_id, answer[1])
        return await self.unsettled(order_id, answer)

    async def find_intent(self, order_id: str, attempt: int, nonce: str) -> str | None:
        """The intent this attempt created, found by its metadata."""
        query = f"metadata['order_id']:'{order_id}' AND metadata['attempt']:'{attempt}{nonce}'"
        found = await self.search(query)
        return str(found[0]["id"]) if found else None

    async def unsettled(self, order_id: str, answer: kit.ProviderAnswer) -> kit.Result:
        """The provider gave no clear answer: ask it about the intent, or stay pending."""
        if self.broken == "fresh_key_on_409" and _in_use(answer):
            self.update(order_id, nonce=f"-{uuid.uuid4().hex[:8]}", intent_id=None)
            return await self.settle(order_id)
        if self.broken == "release_on_error":
            self.update(order_id, status="open", intent_id=None, nonce=f"-{uuid.uuid4().hex[:8]}")
            return kit.Result(
                502, kit.problem_body(502, "payment failed", "the provider failed; try again")
            )
        row = self.row(order_id)
        assert row is not None
        if row["intent_id"] is not None:
            look = await self.provider("GET", f"/v1/payment_intents/{row['intent_id']}")
            now = look[1].get("status") if look is not None and look[0] == 200 else None
            if now == "succeeded":
                return self.paid(order_id)
            if now == "requires_payment_method":
                error = (look[1].get("last_payment_error") or {}) if look else {}
                return self.declined(order_id, {"error": error})
        return kit.Result(202, {"order_id": order_id, "status": "pending"}, final=False)

    def paid(self, order_id: str) -> kit.Result:
        self.update(order_id, status="paid")
        return kit.Result(200, self.view(order_id))

    def declined(self, order_id: str, answer: dict[str, Any]) -> kit.Result:
        row = self.row(order_id)
        assert row is not None
        self.update(order_id, status="open", attempt=row["attempt"] + 1, intent_id=None)
        message = str((answer.get("error") or {}).get("message") or "card declined")
        return kit.Result(402, kit.problem_body(402, "card declined", message))

    async def resume(self, key: str) -> kit.Result:
        return await self.settle(key)


def _in_use(answer: kit.ProviderAnswer) -> bool:
    return (
        answer is not None
        and answer[0] == 409
        and (answer[1].get("error") or {}).get("code") == "idempotency_key_in_use"
    )


# -- HTTP ---------------------------------------------------------------------------------------


async def sign_in(request: Request) -> Response:
    user = (await kit.read_json(request)).get("user")
    if not isinstance(user, str) or not user:
        return kit.problem(400, "user required", 'send {"user": "<name>"}')
    return kit.set_session(Response(status_code=204), "sid", user)


async def create_order(request: Request) -> Response:
    user = request.cookies.get("sid")
    if not user:
        return kit.problem(401, "sign in first", "POST /session")
    data = await kit.read_json(request)
    sku, qty = data.get("sku"), data.get("qty", 1)
    if sku not in PRICES or not isinstance(qty, int) or not 1 <= qty <= 10:
        return kit.problem(422, "bad order", f"sku one of {sorted(PRICES)}, qty 1 to 10")
    shop = kit.state(request, Shop)
    order_id = f"ord_{uuid.uuid4().hex[:16]}"
    with shop.db:
        shop.db.execute(
            "insert into orders (id, owner, amount, status) values (?, ?, ?, 'open')",
            (order_id, user, PRICES[sku] * qty),
        )
    return JSONResponse(shop.view(order_id), 201)


async def read_order(request: Request) -> Response:
    shop = kit.state(request, Shop)
    row = shop.row(request.path_params["order_id"])
    if row is None or row["owner"] != request.cookies.get("sid"):
        return kit.problem(404, "no such order", "check the order id")
    return JSONResponse(shop.view(row["id"]))


async def pay(request: Request) -> Response:
    shop = kit.state(request, Shop)
    user = request.cookies.get("sid")
    order_id = request.path_params["order_id"]
    row = shop.row(order_id)
    if user is None or row is None or row["owner"] != user:
        return kit.problem(404, "no such order", "check the order id")
    key = request.headers.get("idempotency-key")
    if not key:
        return kit.problem(400, "Idempotency-Key required", "send a unique key per payment")
    data = await kit.read_json(request)
    method = data.get("payment_method") or "pm_card_visa"
    digest = kit.fingerprint(data)
    if shop.broken == "fresh_key_on_409":  # trusts the provider key to dedupe: no lock
        return await _pay(shop, user, key, digest, order_id, method)
    async with shop.lock(order_id):
        return await _pay(shop, user, key, digest, order_id, method)


async def _pay(
    shop: Shop, user: str, key: str, digest: str, order_id: str, method: str
) -> Response:
    stored = shop.replay(user, key)
    if stored is not None:
        if stored["digest"] != digest:
            return kit.problem(422, "Idempotency-Key reused", "this key was sent with another body")
        return Response(stored["body"], stored["status"], media_type=kit.media(stored["status"]))
    row = shop.row(order_id)
    assert row is not None
    if row["status"] == "open":
        shop.update(order_id, status="pending", payment_method=method, pending_since=time.time())
    outcome = await shop.settle(order_id)
    if not outcome.final:
        return JSONResponse(outcome.body, outcome.status, headers={"Retry-After": "1"})
    text = json.dumps(outcome.body)
    if outcome.status < 500:
        shop.remember(user, key, digest, outcome.status, text, or_ignore=True)
    return Response(text, outcome.status, media_type=kit.media(outcome.status))


# -- the process ------------------------------------------------------------------------------


def create_app() -> Starlette:
    return Shop.from_env(MODES, SCHEMA, kit.REPLAYS_SCHEMA).app([
        Route("/healthz", kit.healthz),
        Route("/session", sign_in, methods=["POST"]),
        Route("/orders", create_order, methods=["POST"]),
        Route("/orders/{order_id}", read_order),
        Route("/orders/{order_id}/pay", pay, methods=["POST"]),
    ])  # fmt: skip


if __name__ == "__main__":
    kit.serve(create_app())
