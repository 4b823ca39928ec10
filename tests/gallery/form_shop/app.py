"""A gallery checkout for nodouble: a server-rendered shop with forms and no JSON API.

Nothing is shaped like reference_app. A customer signs in with a form
(``POST /signin``, field ``handle``; cookie ``fs_who``), picks a lamp on ``/boutique``
(``POST /basket/checkout``), which creates the order and redirects (303) to
``/orders/{id}/pay``. That page carries a Pay form with a hidden one-time token bound to
the order (``once``); paying redirects (303) to ``/orders/{id}/receipt``. The order's paid
state is shown on ``/orders/{id}/status``. Every page is HTML, sent ``no-store``.

It pays in one provider call (``POST /v1/payment_intents`` with ``confirm=true``), form
encoded with httpx, ``metadata[shop_order]`` = the order id, ``metadata[buyer]`` = the
customer, under the API key ``sk_test_gallery_forms``.

Environment: ``FORM_PORT``, ``FORM_PROVIDER_URL``, ``FORM_API_KEY`` and ``BROKEN``:

- unset: correct. The token is minted once per order and checked against it; one lock
  per order; a paid order is never charged again (its pay page shows "already paid" and
  no form, a late POST is redirected to the receipt); the provider key is derived from
  the order and its attempt; JavaScript disables Pay once the form is submitted.

Whatever the variant, a provider call that ends without a clear answer leaves the order
"unknown", and a background task looks it up at the provider every 0.5 s (search by
``metadata['shop_order']``), so the profile's ``reconcile_window_s`` is honest.
- ``no_prg``: the Pay POST answers the receipt itself (200, no redirect) and checks only
  that a token is present: no lock, no paid check, a fresh provider key per POST. A
  reload of the receipt re-sends the POST, and each one charges.
- ``no_button_guard``: no JavaScript guard on Pay, and the server charges every POST that
  carries the order's token (not consumed, no paid check, a fresh provider key per POST):
  each click that leaves the browser is a charge.
- ``token_per_render``: every render of the pay page mints a fresh token and shows the
  form even when the order is paid; the server trusts any unused token of the order, with
  the provider key derived from the token. Back to the pay page and Pay again charges again.

Run it with ``FORM_PORT=8081 FORM_PROVIDER_URL=... python -m form_shop.app`` and
``PYTHONPATH=tests/gallery``.
"""

from __future__ import annotations

import asyncio
import html
import os
import secrets
import uuid
from dataclasses import dataclass, field

import _shopkit as kit
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

MODES = ("", "no_prg", "no_button_guard", "token_per_render")
LAMPS = {"lamp-brass": ("Brass desk lamp", 4200), "lamp-paper": ("Paper floor lamp", 2900)}
COOKIE = "fs_who"


@dataclass
class Order:
    id: str
    buyer: str
    item: str
    amount: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    """The one-time token of the correct shop, bound to this order."""
    issued: set[str] = field(default_factory=set)
    """Tokens handed out (``token_per_render``)."""
    spent: set[str] = field(default_factory=set)
    paid: bool = False
    unknown: bool = False
    """The last provider call ended without a clear answer: the reconciler asks."""
    attempt: int = 0
    charges: int = 0
    notice: str = ""


@dataclass
class Shop:
    provider_url: str
    api_key: str
    broken: str
    buyers: dict[str, str] = field(default_factory=dict)
    """Session cookie → handle."""
    orders: dict[str, Order] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    http: httpx.AsyncClient | None = None

    async def charge(self, order: Order, key: str) -> str:
        """One payment at the provider: ``paid``, ``declined`` or ``unknown``."""
        assert self.http is not None
        form = {
            "amount": str(order.amount), "currency": "gbp", "confirm": "true",
            "payment_method": "pm_card_visa", "metadata[shop_order]": order.id,
            "metadata[buyer]": order.buyer,
        }  # fmt: skip
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": key}
        try:
            answer = await self.http.post(
                f"{self.provider_url}/v1/payment_intents", data=form, headers=headers
            )
        except httpx.HTTPError:
            order.unknown = True
            return "unknown"
        if answer.status_code == 200 and answer.json().get("status") == "succeeded":
            order.paid, order.unknown = True, False
            order.charges += 1
            return "paid"
        if answer.status_code == 402:
            order.unknown = False
            return "declined"
        order.unknown = True
        return "unknown"

    async def reconcile(self) -> None:
        """Ask the provider about every order whose payment outcome is unknown."""
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.api_key}"}
        for order in [o for o in self.orders.values() if o.unknown and not o.paid]:
            query = f"metadata['shop_order']:'{order.id}' AND status:'succeeded'"
            found = await self.http.get(
                f"{self.provider_url}/v1/payment_intents/search", params={"query": query},
                headers=headers,
            )  # fmt: skip
            if found.status_code == 200:
                order.paid = bool(found.json().get("data"))
                order.unknown = False
                order.notice = ""


# -- markup ------------------------------------------------------------------------------

STYLE = "body{font-family:sans-serif;max-width:36rem;margin:2rem auto}button{font-size:1.1rem}"
GUARD = """<script>
document.getElementById('pay-form').addEventListener('submit', function (event) {
  if (this.dataset.sent) { event.preventDefault(); return; }
  this.dataset.sent = 'yes';
  var button = document.getElementById('settle-btn');
  button.disabled = true;
  button.textContent = 'Paying\u2026';
});
</script>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}"
        f"</title><style>{STYLE}</style></head><body><header><a href=/boutique>Lumen &amp; Co"
        f"</a></header><main>{body}</main></body></html>"
    )
    return HTMLResponse(text, status, headers={"Cache-Control": "no-store"})


def money(amount: int) -> str:
    return f"\u00a3{amount // 100}.{amount % 100:02d}"


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})


def receipt_markup(order: Order) -> str:
    return (
        f'<section id="receipt-ok"><h1>Thank you</h1><p>Order <code>{order.id}</code> is paid: '
        f"{money(order.amount)} for one {html.escape(LAMPS[order.item][0])}.</p></section>"
    )


# -- handlers ----------------------------------------------------------------------------


def _shop(request: Request) -> Shop:
    shop: Shop = request.app.state.shop
    return shop


def _buyer(request: Request) -> str | None:
    return _shop(request).buyers.get(request.cookies.get(COOKIE, ""))


def _order(request: Request) -> Order | None:
    order = _shop(request).orders.get(request.path_params["order_id"])
    return order if order is not None and order.buyer == _buyer(request) else None


def _missing() -> HTMLResponse:
    return page("Not found", "<h1>No such order</h1><p>It is not one of yours.</p>", 404)


async def ping(request: Request) -> Response:
    return PlainTextResponse("pong")


async def signin_form(request: Request) -> Response:
    return page(
        "Sign in",
        "<h1>Sign in</h1><form method=post action=/signin><label>Handle <input name=handle>"
        "</label> <button>Continue</button></form>",
    )


async def signin(request: Request) -> Response:
    handle = str((await request.form()).get("handle") or "").strip()
    if not handle:
        return page("Sign in", "<h1>Sign in</h1><p>Give a handle.</p>", 400)
    sid = secrets.token_urlsafe(18)
    _shop(request).buyers[sid] = handle
    return kit.set_session(see("/boutique"), COOKIE, sid)


async def boutique(request: Request) -> Response:
    if _buyer(request) is None:
        return see("/signin")
    cards = "".join(
        f'<article class="lamp"><h2>{html.escape(name)}</h2><p>{money(price)}</p>'
        f'<form method=post action="/basket/checkout"><input type=hidden name=item '
        f'value="{sku}"><button class="buy-now" data-item="{sku}">Buy now</button></form>'
        f"</article>"
        for sku, (name, price) in LAMPS.items()
    )
    return page("Boutique", f"<h1>Lamps</h1>{cards}")


async def checkout(request: Request) -> Response:
    buyer = _buyer(request)
    if buyer is None:
        return see("/signin")
    item = str((await request.form()).get("item") or "")
    if item not in LAMPS:
        return page("Checkout", "<h1>Unknown item</h1>", 422)
    order = Order(f"ord{uuid.uuid4().hex[:10]}", buyer, item, LAMPS[item][1])
    _shop(request).orders[order.id] = order
    return see(f"/orders/{order.id}/pay")


async def pay_page(request: Request) -> Response:
    shop, order = _shop(request), _order(request)
    if order is None:
        return _missing()
    notice = f'<p class="notice">{html.escape(order.notice)}</p>' if order.notice else ""
    if order.paid and shop.broken != "token_per_render":
        return page(
            "Already paid",
            f'<h1>Order {order.id}</h1><p class="paid-already">This order is already paid.</p>'
            f'<p><a href="/orders/{order.id}/receipt">See the receipt</a></p>',
        )
    token = order.token
    if shop.broken == "token_per_render":
        token = secrets.token_urlsafe(16)  # BROKEN(token_per_render): a new token per render
        order.issued.add(token)
    guard = "" if shop.broken == "no_button_guard" else GUARD  # BROKEN(no_button_guard)
    return page(
        "Pay",
        f"<h1>Pay for order {order.id}</h1>{notice}<p>{html.escape(LAMPS[order.item][0])}, "
        f'<strong class="due">{money(order.amount)}</strong></p>'
        f'<form id="pay-form" method=post action="/orders/{order.id}/pay">'
        f'<input type=hidden name=once value="{token}">'
        f'<button id="settle-btn" type=submit>Pay {money(order.amount)}</button></form>{guard}',
    )


async def pay(request: Request) -> Response:
    shop, order = _shop(request), _order(request)
    if order is None:
        return _missing()
    token = str((await request.form()).get("once") or "")
    if not token:
        return page("Pay", "<h1>This form is incomplete</h1>", 400)
    if shop.broken == "no_prg":
        # BROKEN(no_prg): any token will do, every POST charges, the answer is the receipt.
        outcome = await shop.charge(order, f"fs-{order.id}-{uuid.uuid4().hex}")
        if outcome == "paid":
            return page("Receipt", receipt_markup(order))
        return page("Pay", f"<h1>Payment {outcome}</h1>", 402 if outcome == "declined" else 503)
    if shop.broken == "no_button_guard":
        if token != order.token:
            return page("Pay", "<h1>This form is out of date</h1>", 409)
        # BROKEN(no_button_guard): the token is never spent and a paid order is not checked.
        outcome = await shop.charge(order, f"fs-{order.id}-{uuid.uuid4().hex}")
        return _after(order, outcome)
    if shop.broken == "token_per_render":
        if token not in order.issued or token in order.spent:
            return see(f"/orders/{order.id}/receipt" if order.paid else f"/orders/{order.id}/pay")
        order.spent.add(token)  # BROKEN(token_per_render): one charge per rendered form
        outcome = await shop.charge(order, f"fs-{order.id}-{token}")
        return _after(order, outcome)
    if token != order.token:
        return page("Pay", "<h1>This form is out of date</h1><p>Open the order again.</p>", 409)
    async with shop.locks.setdefault(order.id, asyncio.Lock()):
        if order.paid:
            return see(f"/orders/{order.id}/receipt")
        outcome = await shop.charge(order, f"fs-{order.id}-{order.attempt}")
        if outcome == "declined":
            order.attempt += 1  # a new attempt needs a new provider key
    return _after(order, outcome)


def _after(order: Order, outcome: str) -> Response:
    if outcome == "paid":
        order.notice = ""
        return see(f"/orders/{order.id}/receipt")
    order.notice = (
        "Your card was declined." if outcome == "declined"
        else "We could not confirm the payment yet; try again in a moment."
    )  # fmt: skip
    return see(f"/orders/{order.id}/pay")


async def receipt(request: Request) -> Response:
    order = _order(request)
    if order is None:
        return _missing()
    if not order.paid:
        return see(f"/orders/{order.id}/pay")
    return page("Receipt", receipt_markup(order))


async def status(request: Request) -> Response:
    order = _order(request)
    if order is None:
        return _missing()
    flag = (
        '<span class="order-flag flag-paid">Paid</span>' if order.paid
        else '<span class="order-flag flag-open">Awaiting payment</span>'
    )  # fmt: skip
    return page(
        "Order status",
        f"<h1>Order {order.id}</h1><dl><dt>Item</dt><dd>{html.escape(LAMPS[order.item][0])}</dd>"
        f"<dt>Total</dt><dd>{money(order.amount)}</dd><dt>State</dt><dd>{flag}</dd></dl>",
    )


def create_app() -> Starlette:
    shop = Shop(
        provider_url=os.environ["FORM_PROVIDER_URL"].rstrip("/"),
        api_key=os.environ.get("FORM_API_KEY", "sk_test_gallery_forms"),
        broken=kit.read_broken(MODES),
    )
    app = Starlette(
        routes=[
            Route("/ping", ping),
            Route("/signin", signin_form),
            Route("/signin", signin, methods=["POST"]),
            Route("/boutique", boutique),
            Route("/basket/checkout", checkout, methods=["POST"]),
            Route("/orders/{order_id}/pay", pay_page),
            Route("/orders/{order_id}/pay", pay, methods=["POST"]),
            Route("/orders/{order_id}/receipt", receipt),
            Route("/orders/{order_id}/status", status),
        ],
        lifespan=kit.lifespan(shop, 10, shop.reconcile, quiet=(httpx.HTTPError,)),
    )
    app.state.shop = shop
    return app


if __name__ == "__main__":
    kit.serve(create_app(), "FORM_PORT")
