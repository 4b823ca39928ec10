"""The 3-D Secure return page: ``GET /checkout/{order_id}/return`` (see ``threeds.py``).

The provider sends the customer here after the challenge, completed or failed, with
``payment_intent`` and ``redirect_status`` in the query. Those are not trusted: the page
reads the intent of the order's awaited payment from the provider, settles it, and answers
303 (no-store) to what the order now is: paid (success page), or not (the confirm page,
which shows a failed authentication as a decline, or the challenge still awaited). GET
only; loading it any number of times reads again and never charges.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from reference_app import threeds
from reference_app.pages import (
    _ORDER_ID,
    _checkout_url,
    _load_order,
    _not_found,
    _see_other,
    _signin_redirect,
    _success_url,
)
from reference_app.sessions import get_session

router = APIRouter(include_in_schema=False)


@router.get("/checkout/{order_id}/return")
async def return_page(request: Request, order_id: str) -> Response:
    spa = request.query_params.get("via") == "spa"
    session = get_session(request)
    if session is None:
        return _signin_redirect(_checkout_url(order_id))
    if not _ORDER_ID.match(order_id):
        return _not_found(request)
    state = request.app.state
    await run_in_threadpool(
        threeds.settle_return,
        state.sessionmaker,
        state.provider,
        state.settings,
        session.user,
        order_id,
    )
    order = await _load_order(request, session, order_id)
    if order is None:
        return _not_found(request)
    if order.status == "paid":
        return _see_other(_success_url(order_id))
    if spa:
        return _see_other(f"/spa?orderId={order_id}")
    return _see_other(_checkout_url(order_id))
