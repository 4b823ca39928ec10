"""A tiny server-rendered shop for the browser-step tests (tests only).

``POST /login`` (form ``user``) sets a ``who`` cookie; ``/shop`` has a Buy form posting
``/cart`` (303 to the confirm page ``/checkout/{id}``); the confirm page shows a Pay form
(``button#pay``, posting ``/checkout/{id}/pay``, 303 to ``/done/{id}``) or, once the order
is paid, ``#already-paid`` and no form. ``/orders/{id}`` shows ``#paid`` or ``#unpaid`` to
the order's owner only (401 to anyone else, 404 for an unknown order); order ``blank``
shows neither. ``/spa/{id}`` pays with a slow ``fetch`` (``?ms=``) and then moves to the
done page. Every page is ``no-store`` except where a test asks otherwise.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

NO_STORE = {"Cache-Control": "no-store"}


class State:
    ids = itertools.count(1)
    owners: ClassVar[dict[str, str]] = {"blank": ""}
    paid: ClassVar[set[str]] = set()
    counts: ClassVar[Counter[str]] = Counter()


def _page(body: str, status: int = 200) -> Response:
    html = f"<!doctype html><html><body>{body}</body></html>"
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def login(request: Request) -> Response:
    form = await request.form()
    response = JSONResponse({"user": form.get("user")})
    response.set_cookie("who", str(form.get("user")), path="/")
    return response


async def shop(request: Request) -> Response:
    return _page('<form method="post" action="/cart"><button id="buy">Buy</button></form>')


def _new_order(owner: str) -> str:
    order_id = f"o{next(State.ids)}"
    State.owners[order_id] = owner
    return order_id


async def cart(request: Request) -> Response:
    order_id = _new_order(request.cookies.get("who", ""))
    return RedirectResponse(f"/checkout/{order_id}", status_code=303)


async def api_order(request: Request) -> Response:
    """Creates an order for the user named in the JSON body (tests set orders up with it)."""
    data = await request.json()
    return JSONResponse({"order_id": _new_order(str(data["user"]))})


async def confirm_page(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    if order_id in State.paid:
        return _page('<p id="already-paid">This order is paid.</p>')
    form = f'<form method="post" action="/checkout/{order_id}/pay"><button id="pay">Pay</button>'
    return _page(f'<h1 id="confirm">Confirm</h1>{form}</form>')


async def pay(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    State.counts["pay"] += 1
    State.paid.add(order_id)
    return RedirectResponse(f"/done/{order_id}", status_code=303, headers=NO_STORE)


async def done(request: Request) -> Response:
    return _page('<h1 id="success">Paid</h1>')


async def order_page(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    owner = State.owners.get(order_id)
    if owner is None:
        return _page("<h1>No such order</h1>", 404)
    if owner and request.cookies.get("who") != owner:
        return _page("<h1>Sign in first</h1>", 401)
    if order_id == "blank":
        return _page("<h1>Order</h1><p>Status: see your email</p>")
    shown = '<b id="paid">Paid</b>' if order_id in State.paid else '<b id="unpaid">Unpaid</b>'
    return _page(f"<h1>Order {order_id}</h1>{shown}")


async def mark_paid(request: Request) -> Response:
    State.paid.add(request.path_params["order_id"])
    return JSONResponse({"ok": True})


SPA_PAGE = """<h1 id="confirm">Confirm</h1>
<button id="js-pay" type="button" onclick="pay()">Pay</button>
<script>
async function pay() {{
  await fetch('/api/pay?ms={ms}', {{method: 'POST', body: 'x'}});
  location.replace('/done/{order_id}');
}}
</script>"""


async def spa(request: Request) -> Response:
    order_id = request.path_params["order_id"]
    ms = request.query_params.get("ms", "0")
    return _page(SPA_PAGE.format(ms=ms, order_id=order_id))


async def api_pay(request: Request) -> Response:
    State.counts["api_pay"] += 1
    await asyncio.sleep(float(request.query_params.get("ms", "0")) / 1000)
    return JSONResponse({"paid": True}, headers={"Cache-Control": "max-age=60"})


async def stats(request: Request) -> Response:
    return JSONResponse(dict(State.counts))


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/login", login, methods=["POST"]),
            Route("/shop", shop),
            Route("/cart", cart, methods=["POST"]),
            Route("/api/orders", api_order, methods=["POST"]),
            Route("/checkout/{order_id}", confirm_page),
            Route("/checkout/{order_id}/pay", pay, methods=["POST"]),
            Route("/done/{order_id}", done),
            Route("/orders/{order_id}", order_page),
            Route("/orders/{order_id}/paid", mark_paid, methods=["POST"]),
            Route("/spa/{order_id}", spa),
            Route("/api/pay", api_pay, methods=["POST"]),
            Route("/stats", stats),
        ]
    )
