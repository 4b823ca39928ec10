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

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import _shopkit as kit
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
"""


class Checkout(kit.SqlShop):
    """Orders, receipts per customer key, and authorise-then-capture at the provider."""

    PENDING = "select id from orders where payment_status = 'processing' and since < ?"
    STILL_PENDING = "select 1 from orders where id = ? and payment_status = 'processing'"

    def show(self, order_id: str, *, reading: bool = False) -> dict[str, Any]:
        row = self.row(order_id)
        assert row is not None
        status = row["payment_status"]
        if reading and self.broken == "shows_unpaid":
            status = "unpaid"  # the bug: the read model was never taught about payments
        return {"id": row["id"], "amount_due": row["amount_due"], "payment_status": status}

    async def advance(self, order_id: str) -> kit.Result:
        """Authorise, then capture; each step repeatable under its own provider key."""
        row = self.row(order_id)
        assert row is not None
        if row["payment_status"] == "paid":
            return kit.Result(200, self.show(order_id))
        prefix = f"ok-{order_id}-a{row['attempt']}"
        intent = row["intent"]
        if intent is None:
            form = {
                "amount": str(row["amount_due"]), "currency": "usd", "confirm": "true",
                "capture_method": "manual", "payment_method": row["method"],
                "metadata[order_id]": order_id,
            }  # fmt: skip
            answer = await self.provider(
                "POST",
                "/v1/payment_intents",
                data=form,
                headers=kit.idempotency(f"{prefix}-authorize"),
            )
            if answer is not None and answer[0] == 402:
                return self.declined(order_id, answer[1])
            if answer is not None and answer[0] == 200:
                intent = answer[1]["id"]
            else:  # a stored 500 replays forever: find the authorisation by its metadata
                intent = await self.find_authorised(order_id)
            if intent is None:
                return kit.Result(202, {**self.show(order_id), "retry": True}, final=False)
            self.update(order_id, intent=intent)
        answer = await self.provider(
            "POST", f"/v1/payment_intents/{intent}/capture", data={},
            headers=kit.idempotency(f"{prefix}-capture"),
        )  # fmt: skip
        if kit.succeeded(answer):
            return self.paid(order_id)
        if kit.succeeded(await self.provider("GET", f"/v1/payment_intents/{intent}")):
            return self.paid(order_id)
        return kit.Result(202, {**self.show(order_id), "retry": True}, final=False)

    async def find_authorised(self, order_id: str) -> str | None:
        for intent in await self.search(f"metadata['order_id']:'{order_id}'"):
            if intent.get("status") in ("requires_capture", "succeeded"):
                return str(intent["id"])
        return None

    def paid(self, order_id: str) -> kit.Result:
        self.update(order_id, payment_status="paid")
        return kit.Result(200, self.show(order_id))

    def declined(self, order_id: str, answer: dict[str, Any]) -> kit.Result:
        row = self.row(order_id)
        assert row is not None
        self.update(order_id, payment_status="unpaid", attempt=row["attempt"] + 1, intent=None)
        message = str((answer.get("error") or {}).get("message") or "declined")
        return kit.Result(402, kit.problem_body(402, "card declined", message))

    async def resume(self, key: str) -> kit.Result:
        return await self.advance(key)


# -- HTTP -------------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode(errors="replace"))
    name = (form.get("username") or [""])[0]
    if not name:
        return kit.problem(400, "username required", "post the form field username")
    return kit.set_session(RedirectResponse("/checkout", 303), "shop_session", name)


async def create_order(request: Request) -> Response:
    customer = request.cookies.get("shop_session")
    if not customer:
        return kit.problem(401, "sign in first", "POST /login")
    data = await kit.json_object(request)
    if data is None:
        return kit.problem(400, "JSON body required", 'send {"product": ..., "quantity": ...}')
    product, quantity = data.get("product"), data.get("quantity", 1)
    if product not in PRODUCTS or not isinstance(quantity, int) or not 1 <= quantity <= 9:
        return kit.problem(422, "bad order", f"product one of {sorted(PRODUCTS)}, quantity 1 to 9")
    checkout = kit.state(request, Checkout)
    order_id = f"o_{uuid.uuid4().hex[:16]}"
    with checkout.db:
        checkout.db.execute(
            "insert into orders (id, customer, amount_due, payment_status) "
            "values (?, ?, ?, 'unpaid')",
            (order_id, customer, PRODUCTS[product] * quantity),
        )
    return JSONResponse(checkout.show(order_id), 201)


async def read_order(request: Request) -> Response:
    checkout = kit.state(request, Checkout)
    row = checkout.row(request.path_params["order_id"])
    if row is None or row["customer"] != request.cookies.get("shop_session"):
        return kit.problem(404, "no such order", "check the order id")
    return JSONResponse(checkout.show(row["id"], reading=True))


async def pay(request: Request) -> Response:
    checkout = kit.state(request, Checkout)
    customer = request.cookies.get("shop_session")
    order_id = request.path_params["order_id"]
    row = checkout.row(order_id)
    if customer is None or row is None or row["customer"] != customer:
        return kit.problem(404, "no such order", "check the order id")
    key = request.headers.get("idempotency-key")
    if not key:
        return kit.problem(400, "Idempotency-Key required", "send one unique key per payment")
    data = await kit.read_json(request)
    body_hash = kit.fingerprint(data)
    async with checkout.lock(order_id):
        receipt = checkout.replay(customer, key)
        if receipt is not None:
            if receipt["digest"] != body_hash:
                return kit.problem(422, "Idempotency-Key reused", "the key came with another body")
            status = receipt["status"]
            return Response(receipt["body"], status, media_type=kit.media(status))
        current = checkout.row(order_id)
        assert current is not None
        if current["payment_status"] == "unpaid":
            method = str(data.get("method") or "pm_card_visa")
            checkout.update(order_id, payment_status="processing", method=method, since=time.time())
        result = await checkout.advance(order_id)
        if not result.final:
            return JSONResponse(result.body, result.status, headers={"Retry-After": "1"})
        text = json.dumps(result.body)
        checkout.remember(customer, key, body_hash, result.status, text, or_ignore=False)
        return Response(text, result.status, media_type=kit.media(result.status))


# -- the process ------------------------------------------------------------------------------


def create_app() -> Starlette:
    return Checkout.from_env(MODES, SCHEMA, kit.REPLAYS_SCHEMA, api_key=None).app([
        Route("/healthz", kit.healthz),
        Route("/login", login, methods=["POST"]),
        Route("/checkout/orders", create_order, methods=["POST"]),
        Route("/checkout/orders/{order_id}", read_order),
        Route("/checkout/orders/{order_id}/payments", pay, methods=["POST"]),
    ])  # fmt: skip


if __name__ == "__main__":
    kit.serve(create_app())
