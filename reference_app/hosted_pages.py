"""The hosted-Checkout pages: a form POST that sends the customer to the provider's page,
and the success URL the provider sends them back to.

- ``POST /checkout/{order_id}/hosted`` (the confirm page's second button): 303 to the
  order's one open Checkout Session on the provider (a new one only when none is open), or
  to the success / progress page when the order is paid / being paid.
- ``GET /checkout/{order_id}/hosted/return?session_id=cs_...``: GET only, ``no-store``;
  reads the session from the provider, fulfils the order (at most once, whichever of this
  page and the ``checkout.session.completed`` webhook comes first) and shows the success
  page. Reloading it fulfils nothing more and charges nothing.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from reference_app.hosted import Go, HostedCheckout
from reference_app.pages import (
    _ORDER_ID,
    _call,
    _checkout_url,
    _error_page,
    _form_with_csrf,
    _load_order,
    _not_found,
    _render,
    _see_other,
    _signin_redirect,
    _success_url,
)
from reference_app.sessions import get_session

router = APIRouter(include_in_schema=False)


def _hosted(request: Request) -> HostedCheckout:
    hosted: HostedCheckout = request.app.state.hosted
    return hosted


def _go(request: Request, order_id: str, go: Go) -> Response:
    if go.where == "provider" and go.url:
        return _see_other(go.url)
    if go.where == "success":
        return _see_other(_success_url(order_id))
    if go.where == "progress":
        return _see_other(_checkout_url(order_id, "/progress"))
    if go.where == "confirm":
        return _see_other(_checkout_url(order_id))
    if go.where == "not_found":
        return _not_found(request)
    return _error_page(
        request,
        503,
        "The payment page is not available",
        "We could not reach the payment provider. Nothing was charged by this attempt; "
        "go back and try again in a moment.",
    )


@router.post("/checkout/{order_id}/hosted")
async def hosted_start(request: Request, order_id: str) -> Response:
    parsed = await _form_with_csrf(request)
    if isinstance(parsed, Response):
        return parsed
    session, _fields = parsed
    if not _ORDER_ID.match(order_id):
        return _not_found(request)
    base = str(request.base_url)
    go: Go = await _call(_hosted(request).start, session.user, order_id, base)
    return _go(request, order_id, go)


@router.get("/checkout/{order_id}/hosted/return")
async def hosted_return(request: Request, order_id: str) -> Response:
    session_id = request.query_params.get("session_id", "")
    if not _ORDER_ID.match(order_id):
        return _not_found(request)
    go: Go = await _call(_hosted(request).on_return, order_id, session_id)
    if go.where != "success":
        return _go(request, order_id, go)
    session = get_session(request)
    if session is None:
        return _signin_redirect(_success_url(order_id))
    order = await _load_order(request, session, order_id)
    if order is None:
        return _not_found(request)
    return _render(request, "success.html", {"order": order})
