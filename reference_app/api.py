"""The JSON API: thin routes over ``CheckoutService`` (``app.state.service``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from reference_app import flaws, threeds, unguarded, webhooks
from reference_app.checkout import REPLAYED_HEADER, render
from reference_app.errors import PROBLEM, ProblemError
from reference_app.hosted import HOSTED_OPEN
from reference_app.schemas import (
    ConfirmIn,
    ConfirmOutcome,
    ConfirmResult,
    Health,
    OrderCreated,
    OrderIn,
    OrderView,
    Problem,
    Product,
    SessionIn,
    SessionOut,
    StoredAnswer,
)
from reference_app.service import CheckoutService, UnknownProduct
from reference_app.sessions import get_session, start_session

router = APIRouter()

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}} for status in (400, 401, 404, 422)
}


def _service(request: Request) -> CheckoutService:
    service: CheckoutService = request.app.state.service
    return service


def _user(request: Request) -> str:
    session = get_session(request)
    if session is None:
        raise ProblemError(
            401, "not-logged-in", 'Log in first: POST /api/session with {"user": "alice"}.'
        )
    return session.user


@router.get("/healthz", response_model=Health, tags=["ops"])
def healthz(request: Request) -> Health:
    flaw: str = request.app.state.settings.flaw
    return Health(status="ok", flaw=None if flaw in flaws.OFF else flaw)


@router.post("/api/session", response_model=SessionOut, tags=["session"], responses=_PROBLEMS)
def create_session(body: SessionIn, request: Request, response: Response) -> SessionOut:
    """Log in as a demo user (no password): sets the signed session cookie."""
    session = start_session(response, body.user, request.app.state.settings)
    return SessionOut(user=session.user)


@router.get("/api/catalog", response_model=list[Product], tags=["orders"])
def get_catalog(request: Request) -> list[Product]:
    return _service(request).catalog()


@router.post(
    "/api/orders",
    status_code=201,
    response_model=OrderCreated,
    tags=["orders"],
    responses=_PROBLEMS,
)
def create_order(body: OrderIn, request: Request) -> OrderCreated:
    """Create an order; its amount is computed here from the catalog."""
    user = _user(request)
    try:
        order = _service(request).create_order(user, body.items)
    except UnknownProduct as exc:
        raise ProblemError(
            422, "unknown-product", f"{exc}; GET /api/catalog lists the SKUs."
        ) from None
    return OrderCreated(
        order_id=order.order_id, amount=order.amount, currency=order.currency, status=order.status
    )


@router.get(
    "/api/orders/{order_id}", response_model=OrderView, tags=["orders"], responses=_PROBLEMS
)
def get_order(order_id: str, request: Request) -> OrderView:
    user = _user(request)
    order = _service(request).get_order(user, order_id)
    if order is None:
        raise ProblemError(404, "not-found", f"No order {order_id} for you.")
    return order


@router.post(
    "/api/orders/{order_id}/confirm",
    response_model=ConfirmResult,
    tags=["orders"],
    responses={
        **_PROBLEMS,
        202: {
            "description": "The provider's answer was lost; the payment is being checked "
            '(body status "processing"). Retry with the same key or GET the order. Or the '
            'card asks for 3-D Secure (body status "requires_action"): send the customer to '
            "next_action.redirect_to_url.url; a replay answers the same."
        },
        402: {"model": Problem, "description": "Declined; replayed for the same key."},
        409: {
            "model": Problem,
            "description": "Another request is confirming this order; see Retry-After. "
            "Or (type hosted-session-open) a hosted payment page was opened for the order "
            "meanwhile: nothing was charged; retry with the same key to close it and pay.",
        },
    },
)
def confirm_order(
    order_id: str,
    request: Request,
    body: ConfirmIn | None = None,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> Response:
    """Pay the order, at most once per order whatever is repeated.

    Send a random ``Idempotency-Key`` per checkout attempt and reuse it on every retry: a
    repeat answers the stored response with ``Idempotent-Replayed: true``.
    """
    user = _user(request)
    payload = (body or ConfirmIn()).model_dump()
    service = _service(request)
    found = service.look_up(
        user, order_id, idempotency_key, payload, method=request.method, path=request.url.path
    )
    stored = found.answer
    if isinstance(stored, StoredAnswer):  # a replay: the stored bytes, nothing else done
        return _send(stored.status, stored.headers, stored.body)
    if stored is not None:
        return _json_outcome(stored)
    hosted = request.app.state.hosted  # a hosted session left open must not be paid too
    if found.hosted_open and not hosted.close_for_card(user, order_id, str(request.base_url)):
        raise ProblemError(503, "hosted-session-open", HOSTED_OPEN, {"Retry-After": "2"})
    outcome = service.confirm(
        user, order_id, idempotency_key, payload, method=request.method, path=request.url.path,
        return_url=threeds.return_url(request, order_id, spa=True),
    )  # fmt: skip
    return _json_outcome(outcome)


@router.post(
    "/api/orders/{order_id}/capture",
    response_model=ConfirmResult,
    tags=["orders"],
    responses={
        **_PROBLEMS,
        202: {"description": "The provider's answer was lost; retry with the same key."},
        409: {"model": Problem, "description": "Nothing authorised to capture, or busy."},
    },
)
def capture_order(
    order_id: str,
    request: Request,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> Response:
    """Take the money of an order confirmed with ``"capture_method": "manual"``, once.

    Same key rules as confirm: a repeat answers the stored response (replayed).
    """
    user = _user(request)
    outcome = _service(request).capture(
        user, order_id, idempotency_key, method=request.method, path=request.url.path
    )
    return _json_outcome(outcome)


def _json_outcome(outcome: ConfirmOutcome) -> Response:
    headers = dict(outcome.headers)
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return _send(outcome.status, headers, render(outcome.body))


def _send(status: int, headers: dict[str, str], body: str) -> Response:
    """Answer with ``body``, JSON text sent as it is (the same bytes a replay sends)."""
    sent = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    media = headers.get("Content-Type", "application/json")
    return Response(body, status_code=status, headers=sent, media_type=media)


bench_router = APIRouter(include_in_schema=False)
"""Mounted only with ``NODOUBLE_BENCH_UNGUARDED=1`` (see reference_app/unguarded.py)."""


@bench_router.post(unguarded.PATH)
def confirm_unguarded(order_id: str, request: Request, body: ConfirmIn | None = None) -> Response:
    """Charge, then mark paid, with no guard: the overhead benchmark's baseline."""
    user = _user(request)
    state = request.app.state
    payment_method = (body or ConfirmIn()).payment_method
    outcome = unguarded.confirm(state.sessionmaker, state.provider, user, order_id, payment_method)
    return _json_outcome(outcome)


@router.post("/webhooks/provider", tags=["webhooks"], responses={400: {"model": Problem}})
async def provider_webhook(request: Request) -> JSONResponse:
    """Signed provider events; duplicates and out-of-order deliveries are harmless."""
    payload = await request.body()
    settings = request.app.state.settings
    try:
        # FLAW(webhook_no_signature): the event is believed without checking who sent it.
        if not flaws.active(settings, "webhook_no_signature"):
            signature = request.headers.get("stripe-signature")
            webhooks.verify(payload, signature, settings.webhook_secret)
    except webhooks.SignatureError as exc:
        raise ProblemError(400, "bad-signature", str(exc)) from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise ProblemError(400, "malformed-json", "The event is not valid JSON.") from None
    if not isinstance(event, dict):
        raise ProblemError(400, "malformed-event", "The event must be a JSON object.")
    try:
        handling = await run_in_threadpool(
            webhooks.handle,
            request.app.state.sessionmaker,
            event,
            flaw=settings.flaw,
            read_intent=request.app.state.provider.retrieve,
        )
    except ValueError as exc:
        raise ProblemError(400, "malformed-event", str(exc)) from None
    return JSONResponse({"received": True, "handling": handling})
