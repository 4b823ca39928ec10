"""The checkout's web pages: a server-rendered flow and the shell of a single-page flow.

Server-rendered flow, Post/Redirect/Get everywhere (every POST answers 303 See Other, so
no page the browser shows is the result of a POST and Reload or Back never re-POSTs):

- ``GET /shop``: products; without a session, a "sign in as" form (``POST /login``).
- ``POST /checkout``: creates the order, 303 to ``GET /checkout/{order_id}``.
- ``GET /checkout/{order_id}``: the confirm page; its form carries the server-issued confirm
  key (``service.page_confirm_key``), the same on every render, so a resubmitted form
  (Back, Reload, a second tab, a double click with JavaScript off) replays instead of paying
  again. A paid order redirects to its success page, a payment in flight to the progress page.
- ``POST /checkout/{order_id}/confirm``: the same ``service.confirm`` as the API; 303 to
  success, to the progress page (409 in flight, 202 being checked) or back to the confirm
  page (declined: the page then shows the reason and a fresh key).
- ``GET /checkout/{order_id}/progress``: polls with GET only, never re-POSTs.
- ``GET /success?orderId=``: read from the database, owner only, GET only.

Single-page flow: ``GET /spa`` serves a shell; ``static/spa.js`` talks to the JSON API.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from reference_app import csrf, flaws, threeds
from reference_app.catalog import MAX_QUANTITY
from reference_app.errors import ProblemError
from reference_app.hosted import HOSTED_OPEN
from reference_app.schemas import LineItemIn, OrderView
from reference_app.sessions import USER_PATTERN, Session, get_session, start_session

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _money(amount: int, currency: str = "usd") -> str:
    """Minor units to a display string: ``2500, "usd"`` -> ``$25.00``."""
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower(), "")
    text = f"{amount // 100:,}.{amount % 100:02d}"
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


templates.env.filters["money"] = _money

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

PAYMENT_METHODS: tuple[tuple[str, str], ...] = (
    ("pm_card_visa", "Visa ending 4242"),
    ("pm_card_mastercard", "Mastercard ending 4444"),
    ("pm_card_amex", "American Express ending 8431"),
    ("pm_card_chargeDeclined", "Test card: always declined"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Test card: insufficient funds"),
    (threeds.CARD, "Test card: asks for 3-D Secure"),
)
_METHOD_IDS = frozenset(method for method, _ in PAYMENT_METHODS)
DECLINE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
}
_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

SECURITY_HEADERS = {
    # Everything the pages need is same-origin; no inline script, no framing (a framed Pay
    # button can be clickjacked), forms may only post back here.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# --------------------------------------------------------------------------- helpers


def _private(response: Response) -> Response:
    """Never stored by any cache (also keeps the page out of Back/Forward disk caches)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Cookie"
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _see_other(url: str) -> Response:
    """The only answer a form POST gets when it worked: 303, then the browser GETs ``url``."""
    return _private(RedirectResponse(url, status_code=303))


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    context.setdefault("session", get_session(request))
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    _private(response)
    if flaws.active(request.app.state.settings, "cacheable_pages"):
        # FLAW(cacheable_pages): pages may be kept and shown again from a cache (Back,
        # a shared proxy) instead of being asked for anew: a stale, live Pay button.
        response.headers["Cache-Control"] = "private, max-age=600"
    return response


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    """Errors of the HTML flow: a page a person can act on, with the right status code."""
    return _render(request, "error.html", {"title": title, "detail": detail}, status)


def _secret(request: Request) -> str:
    secret: str = request.app.state.settings.session_secret
    return secret


def _service(request: Request) -> Any:
    return request.app.state.service


async def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a service method without blocking the event loop (it may do blocking I/O)."""
    if inspect.iscoroutinefunction(function):
        return await function(*args, **kwargs)
    return await run_in_threadpool(function, *args, **kwargs)


def _success_url(order_id: str) -> str:
    return "/success?" + urlencode({"orderId": order_id})


def _checkout_url(order_id: str, suffix: str = "") -> str:
    return f"/checkout/{quote(order_id, safe='')}{suffix}"


def _signin_redirect(next_url: str) -> Response:
    return _see_other("/shop?" + urlencode({"next": next_url}))


def _safe_next(value: str | None) -> str:
    """Only a local path: never an open redirect to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/shop"


async def _load_order(request: Request, session: Session, order_id: str) -> OrderView | None:
    if not _ORDER_ID.match(order_id):
        return None
    order: OrderView | None = await _call(_service(request).get_order, session.user, order_id)
    return order


def _payment_in_flight(order: OrderView) -> bool:
    return order.payment is not None and order.payment.status == "PENDING"


def _last_decline(order: OrderView) -> str | None:
    payment = order.payment
    if payment is None or payment.status != "FAILED":
        return None
    code = payment.failure_code or "card_declined"
    return DECLINE_MESSAGES.get(code, f"The payment was not accepted ({code}).")


def _not_found(request: Request) -> Response:
    return _error_page(
        request,
        404,
        "Order not found",
        "There is no such order in your account. Start again from the shop.",
    )


async def _form_with_csrf(request: Request) -> tuple[Session, dict[str, str]] | Response:
    """Parse a form POST and check its CSRF token; a Response means "refused"."""
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    session = get_session(request)
    try:
        csrf.check_origin(request)
        csrf.verify_token(fields.get(csrf.FIELD), session, _secret(request))
    except csrf.CSRFError as exc:
        return _error_page(request, 403, "Request refused", str(exc))
    assert session is not None  # verify_token refuses a missing session
    return session, fields


# --------------------------------------------------------------------------- shop + login


@router.get("/")
async def index() -> Response:
    return _see_other("/shop")


@router.get("/shop")
async def shop(request: Request) -> Response:
    session = get_session(request)
    products = await _call(_service(request).catalog)
    context: dict[str, Any] = {
        "products": products,
        "max_quantity": MAX_QUANTITY,
        "next": _safe_next(request.query_params.get("next")),
        "csrf_token": csrf.token_for(session, _secret(request)) if session else None,
    }
    return _render(request, "shop.html", context)


@router.post("/login")
async def login(request: Request) -> Response:
    try:
        csrf.check_origin(request)
    except csrf.CSRFError as exc:
        return _error_page(request, 403, "Request refused", str(exc))
    form = await request.form()
    user = form.get("user")
    if not isinstance(user, str) or not USER_PATTERN.match(user.strip()):
        return _error_page(
            request,
            400,
            "Invalid user name",
            "Use 1 to 64 letters, digits, '_', '.' or '-' (for example: alice).",
        )
    next_value = form.get("next")
    response = _see_other(_safe_next(next_value if isinstance(next_value, str) else None))
    start_session(response, user.strip(), request.app.state.settings)
    return response


# --------------------------------------------------------------------------- checkout


@router.post("/checkout")
async def create_checkout(request: Request) -> Response:
    parsed = await _form_with_csrf(request)
    if isinstance(parsed, Response):
        return parsed
    session, fields = parsed
    sku = fields.get("sku", "")
    quantity_text = fields.get("quantity", "1").strip() or "1"
    if not quantity_text.isdigit() or not 1 <= int(quantity_text) <= MAX_QUANTITY:
        return _error_page(
            request, 400, "Invalid quantity", f"Choose a quantity from 1 to {MAX_QUANTITY}."
        )
    try:
        item = LineItemIn(sku=sku, quantity=int(quantity_text))
        order = await _call(_service(request).create_order, session.user, [item])
    except ProblemError as exc:
        return _error_page(request, exc.status, "Could not create the order", exc.detail)
    except ValueError:  # pydantic's ValidationError is a ValueError
        return _error_page(request, 400, "Invalid product", "Choose a product from the shop.")
    return _see_other(_checkout_url(order.order_id))


@router.get("/checkout/{order_id}")
async def confirm_page(request: Request, order_id: str) -> Response:
    session = get_session(request)
    if session is None:
        return _signin_redirect(_checkout_url(order_id))
    order = await _load_order(request, session, order_id)
    if order is None:
        return _not_found(request)
    if order.status == "paid":
        # Back after paying lands here: show the outcome, never a live Pay button.
        return _see_other(_success_url(order.order_id))
    challenge = threeds.challenge_of(order)  # awaiting 3-D Secure: Pay confirms it again
    if _payment_in_flight(order) and challenge is None:
        return _see_other(_checkout_url(order.order_id, "/progress"))
    try:
        key: str = await _call(_service(request).page_confirm_key, session.user, order.order_id)
    except LookupError:  # service.OrderNotFound: deleted or not ours after all
        return _not_found(request)
    context = {
        "order": order,
        "confirm_key": key,
        "csrf_token": csrf.token_for(session, _secret(request)),
        "methods": PAYMENT_METHODS,
        "selected": PAYMENT_METHODS[0][0],
        "decline": _last_decline(order),
        # FLAW(no_button_guard): the page tells checkout.js not to guard the Pay button, so
        # it stays enabled and every click submits the form again.
        "button_guard": not flaws.active(request.app.state.settings, "no_button_guard"),
        "challenge": challenge,
        "hosted_checkout": True,
    }
    response = _render(request, "confirm.html", context)
    # the provider's origin in CSP form-action: the form's 303 may lead to its 3-D Secure
    # challenge (Pay) or to its hosted payment page (the hosted-Checkout button)
    return threeds.allow_challenge(response, request.app.state.settings.provider_url)


@router.post("/checkout/{order_id}/confirm")
async def confirm_submit(request: Request, order_id: str) -> Response:
    parsed = await _form_with_csrf(request)
    if isinstance(parsed, Response):
        return parsed
    session, fields = parsed
    key = fields.get("confirm_key", "")
    method = fields.get("payment_method", "")
    if not key or method not in _METHOD_IDS:
        return _error_page(
            request,
            400,
            "Incomplete form",
            "The form lacks its confirm key or a known payment method; reload the page.",
        )
    if not _ORDER_ID.match(order_id):
        return _not_found(request)
    hosted = request.app.state.hosted  # a hosted session left open must not be paid too
    if not await _call(hosted.close_for_card, session.user, order_id, str(request.base_url)):
        return _error_page(request, 503, "Payment not started", HOSTED_OPEN)
    try:
        outcome = await _call(
            _service(request).confirm,
            session.user,
            order_id,
            key,
            # manual capture is API-only: a page takes the money at once whatever
            # NODOUBLE_CAPTURE_METHOD says (the pages have no capture step)
            {"payment_method": method, "capture_method": "automatic"},
            method="POST",
            path=f"/api/orders/{order_id}/confirm",
            return_url=threeds.return_url(request, order_id, spa=False),
        )
    except ProblemError as exc:
        if exc.status == 404:
            return _not_found(request)
        return _error_page(request, exc.status, "Could not confirm the payment", exc.detail)
    if outcome.status == 200:
        if flaws.active(request.app.state.settings, "no_prg"):
            # FLAW(no_prg): the POST answers the success page itself (200, no redirect), so
            # the page on screen is a POST result: Reload or Back re-sends the payment.
            paid = await _load_order(request, session, order_id)
            if paid is not None:
                return _render(request, "success.html", {"order": paid})
        return _see_other(_success_url(order_id))
    challenge = threeds.redirect_of(outcome)
    if challenge is not None:  # 3-D Secure: to the provider's page, then our return page
        return _see_other(challenge)
    if outcome.status == 404:
        return _not_found(request)
    if outcome.status == 402:
        # The page shows the reason and a fresh key (the service rotates it after a failure).
        return _see_other(_checkout_url(order_id))
    if outcome.status in (202, 409) or outcome.status >= 500:
        return _see_other(_checkout_url(order_id, "/progress"))
    # Anything else (e.g. the key was reused with other details): show the order's truth.
    order = await _load_order(request, session, order_id)
    if order is None:
        return _not_found(request)
    if order.status == "paid":
        return _see_other(_success_url(order_id))
    if _payment_in_flight(order):
        return _see_other(_checkout_url(order_id, "/progress"))
    detail = str(outcome.body.get("detail") or "The payment could not be confirmed.")
    return _error_page(request, outcome.status, "Could not confirm the payment", detail)


@router.get("/checkout/{order_id}/progress")
async def progress_page(request: Request, order_id: str) -> Response:
    session = get_session(request)
    if session is None:
        return _signin_redirect(_checkout_url(order_id, "/progress"))
    order = await _load_order(request, session, order_id)
    if order is None:
        return _not_found(request)
    if order.status == "paid":
        return _see_other(_success_url(order.order_id))
    if not _payment_in_flight(order) or threeds.challenge_of(order):
        # Awaiting 3-D Secure, declined, or nothing is in flight (the request never got
        # through): the confirm page shows which, and its form carries the same key.
        return _see_other(_checkout_url(order.order_id))
    return _render(request, "progress.html", {"order": order})


@router.get("/success")
async def success_page(request: Request) -> Response:
    order_id = request.query_params.get("orderId", "")
    session = get_session(request)
    if session is None:
        return _signin_redirect(_success_url(order_id))
    order = await _load_order(request, session, order_id)
    if order is None:
        return _not_found(request)
    if order.status != "paid":
        if _payment_in_flight(order):
            return _see_other(_checkout_url(order.order_id, "/progress"))
        return _see_other(_checkout_url(order.order_id))
    return _render(request, "success.html", {"order": order})


# --------------------------------------------------------------------------- SPA shell


@router.get("/spa")
async def spa_shell(request: Request) -> Response:
    return _render(request, "spa.html", {"methods": PAYMENT_METHODS})
