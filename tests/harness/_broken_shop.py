"""A checkout the harness has never seen, correct or broken on purpose (tests only).

Its API has nothing in common with reference_app's: ``POST /login {"name"}`` sets a
cookie (and returns a token usable as ``Authorization: Bearer``), ``POST /carts`` makes a
cart, ``POST /carts/{id}/pay`` pays it with ``X-Request-Id`` as the idempotency header,
``GET /carts/{id}`` reads it back. It pays through a Stripe-compatible provider
(``POST /v1/payment_intents``, form encoded, ``metadata[order_id]`` = the cart id).

Environment: ``SHOP_PROVIDER_URL``, ``SHOP_API_KEY`` (default ``sk_test_nodouble``),
``SHOP_METADATA_KEY`` (the metadata key the cart id goes under, default ``order_id``; the
profiles name ``order_id``, so another key leaves every charge unlabelled for the harness)
and ``BROKEN``:

- unset: correct. Answers are stored per (user, X-Request-Id) with the request body's
  fingerprint; one lock per cart serialises payments; a paid cart is never charged again;
  the provider gets the shop's own idempotency key per cart attempt.
- ``no_idempotency``: every pay request charges, with no key anywhere.
- ``race``: stores answers and checks "already paid", but check-then-insert with a sleep
  in between and no lock, and no idempotency key at the provider.
- ``forgetful``: correct, except that a paid cart is never marked paid: the customer is
  told "paid" and charged once, and the cart reads unpaid for ever (an orphan charge).
- ``queued``: correct, the way a checkout with a job queue is: the first pay of a cart
  answers 202 at once and a job charges it ``QUEUE_DELAY_S`` later (with the cart's own
  provider key); until then the cart reads ``PROCESSING``, unpaid and not yet charged.

Serve it with ``ServerProcess("_broken_shop:create_app", env=shop_env(...))``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness._process import ServerProcess

HERE = Path(__file__).resolve().parent
PRICES = {"mug": 1500, "tee": 2500}
MODES = ("", "no_idempotency", "race", "forgetful", "queued")
QUEUE_DELAY_S = 0.1
RACE_WINDOW_S = 0.2
COOKIE = "shop_token"


def shop_env(provider_url: str, broken: str = "", metadata_key: str = "order_id") -> dict[str, str]:
    """Environment for a :class:`~harness._process.ServerProcess` serving this shop."""
    pythonpath = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p)
    return {"SHOP_PROVIDER_URL": provider_url, "BROKEN": broken, "PYTHONPATH": pythonpath,
            "SHOP_METADATA_KEY": metadata_key}  # fmt: skip


def write_profile(
    dest: Path, *, base_url: str, provider_url: str, name: str = "shop", template: str = "shop"
) -> Path:
    """Fill ``targets/<template>.toml.in`` with the real URLs and write it to ``dest``."""
    text = (HERE / "targets" / f"{template}.toml.in").read_text(encoding="utf-8")
    for marker, value in (("@NAME@", name), ("@BASE_URL@", base_url),
                          ("@PROVIDER_URL@", provider_url)):  # fmt: skip
        text = text.replace(marker, value)
    dest.write_text(text, encoding="utf-8")
    return dest


def start_shop(
    provider_url: str,
    broken: str = "",
    log_dir: Path | None = None,
    *,
    metadata_key: str = "order_id",
) -> ServerProcess:
    """A real uvicorn process serving the shop, correct or ``broken``."""
    log = log_dir / f"shop-{broken or 'correct'}-{metadata_key}.log" if log_dir else None
    env = shop_env(provider_url, broken, metadata_key)
    return ServerProcess("_broken_shop:create_app", env=env, log_path=log).start()


def problem(status: int, title: str, detail: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status, media_type="application/problem+json")


@dataclass
class Cart:
    id: str
    owner: str
    total: int
    state: str = "OPEN"
    attempts: int = 0

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "total": self.total, "currency": "usd", "state": self.state}


@dataclass
class Shop:
    provider_url: str
    api_key: str
    broken: str
    metadata_key: str = "order_id"
    carts: dict[str, Cart] = field(default_factory=dict)
    answers: dict[tuple[str, str], tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    """(user, X-Request-Id) → (body fingerprint, status, body)."""
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    client: httpx.AsyncClient | None = None
    jobs: set[asyncio.Task[None]] = field(default_factory=set)

    async def charge(self, cart: Cart, card: str) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if self.broken in ("", "forgetful", "queued"):
            headers["Idempotency-Key"] = f"shop-{cart.id}-{cart.attempts}"
        form = {
            "amount": str(cart.total), "currency": "usd", "payment_method": card,
            "confirm": "true", f"metadata[{self.metadata_key}]": cart.id,
        }  # fmt: skip
        assert self.client is not None
        try:
            answer = await self.client.post(
                f"{self.provider_url}/v1/payment_intents", data=form, headers=headers
            )
        except httpx.HTTPError as exc:
            return 503, _problem_body(503, "provider unreachable", str(exc))
        if answer.status_code == 200 and answer.json().get("status") == "succeeded":
            if self.broken != "forgetful":
                cart.state = "PAID"
            return 200, {"cart": {**cart.view(), "state": "PAID"}}
        if answer.status_code == 402:
            cart.attempts += 1
            return 402, _problem_body(402, "card declined", "use another card")
        return 503, _problem_body(503, "provider error", f"HTTP {answer.status_code}")


def _problem_body(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


def _user(request: Request) -> str | None:
    token = request.cookies.get(COOKIE)
    auth = request.headers.get("authorization", "")
    if auth.startswith("Bearer "):
        token = auth.removeprefix("Bearer ")
    if token and token.startswith("tok-"):
        return token.removeprefix("tok-")
    return None


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def login(request: Request) -> Response:
    name = (await _json(request)).get("name")
    if not isinstance(name, str) or not name:
        return problem(400, "name required", 'send {"name": "..."}')
    token = f"tok-{name}"
    response = JSONResponse({"token": token})
    response.set_cookie(COOKIE, token, httponly=True)
    return response


async def create_cart(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return problem(401, "sign in first", "POST /login")
    data = await _json(request)
    sku, qty = data.get("sku"), data.get("qty", 1)
    if sku not in PRICES or not isinstance(qty, int) or qty < 1:
        return problem(422, "bad cart", f"sku one of {sorted(PRICES)}, qty a positive integer")
    cart = Cart(f"c_{uuid.uuid4().hex[:12]}", user, PRICES[sku] * qty)
    _shop(request).carts[cart.id] = cart
    return JSONResponse({"cart": cart.view()}, 201)


async def read_cart(request: Request) -> Response:
    cart = _shop(request).carts.get(request.path_params["cart_id"])
    if cart is None or cart.owner != _user(request):
        return problem(404, "no such cart", "check the id")
    return JSONResponse({"cart": cart.view()})


async def pay(request: Request) -> Response:
    shop = _shop(request)
    user = _user(request)
    cart = shop.carts.get(request.path_params["cart_id"])
    if user is None or cart is None or cart.owner != user:
        return problem(404, "no such cart", "check the id")
    raw = await request.body()
    card = str((await _json(request)).get("card") or "pm_card_visa")
    if shop.broken == "no_idempotency":
        status, body = await shop.charge(cart, card)
        return JSONResponse(body, status)
    key = request.headers.get("x-request-id")
    if not key:
        return problem(400, "X-Request-Id required", "send a unique X-Request-Id per payment")
    fingerprint = hashlib.sha256(raw).hexdigest()
    if shop.broken == "race":
        return await _pay_racy(shop, cart, user, key, fingerprint, card)
    if shop.broken == "queued":
        return _pay_queued(shop, cart, card)
    lock = shop.locks.setdefault(cart.id, asyncio.Lock())
    async with lock:
        stored = shop.answers.get((user, key))
        if stored is not None:
            return _replay(stored, fingerprint)
        if cart.state == "PAID":
            status, body = 200, {"cart": cart.view()}
        else:
            status, body = await shop.charge(cart, card)
        if status < 500:
            shop.answers[(user, key)] = (fingerprint, status, body)
        return JSONResponse(body, status)


async def _pay_racy(
    shop: Shop, cart: Cart, user: str, key: str, fingerprint: str, card: str
) -> Response:
    stored = shop.answers.get((user, key))
    if stored is not None:
        return _replay(stored, fingerprint)
    if cart.state == "PAID":
        return JSONResponse({"cart": cart.view()})
    # "a slow database round trip": the window the race needs. 50 ms was missed once in ten
    # bursts by a CI run (two bursts of 20 at once on 2 busy cores): the test asks that every
    # burst is caught, and a burst spread wider than the window cannot race.
    await asyncio.sleep(RACE_WINDOW_S)
    status, body = await shop.charge(cart, card)
    shop.answers[(user, key)] = (fingerprint, status, body)
    return JSONResponse(body, status)


def _pay_queued(shop: Shop, cart: Cart, card: str) -> Response:
    """Queue the cart's payment once; every pay answers the cart as it stands."""
    if cart.state == "OPEN":
        cart.state = "PROCESSING"
        job = asyncio.get_running_loop().create_task(_charge_later(shop, cart, card))
        shop.jobs.add(job)
        job.add_done_callback(shop.jobs.discard)
    return JSONResponse({"cart": cart.view()}, 200 if cart.state == "PAID" else 202)


async def _charge_later(shop: Shop, cart: Cart, card: str) -> None:
    await asyncio.sleep(QUEUE_DELAY_S)
    status, _ = await shop.charge(cart, card)
    if status != 200:
        cart.state = "OPEN"


def _replay(stored: tuple[str, int, dict[str, Any]], fingerprint: str) -> Response:
    first, status, body = stored
    if first != fingerprint:
        return problem(422, "X-Request-Id reused", "this id was used with another body")
    return JSONResponse(body, status)


def create_app() -> Starlette:
    broken = os.environ.get("BROKEN", "")
    if broken not in MODES:
        allowed = ", ".join(m or "(unset)" for m in MODES)
        raise SystemExit(f"BROKEN={broken!r} is not one of {allowed}")
    shop = Shop(
        provider_url=os.environ["SHOP_PROVIDER_URL"].rstrip("/"),
        api_key=os.environ.get("SHOP_API_KEY", "sk_test_nodouble"),
        broken=broken,
        metadata_key=os.environ.get("SHOP_METADATA_KEY", "order_id"),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as client:
            shop.client = client
            yield

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/login", login, methods=["POST"]),
            Route("/carts", create_cart, methods=["POST"]),
            Route("/carts/{cart_id}", read_cart),
            Route("/carts/{cart_id}/pay", pay, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.shop = shop
    return app
