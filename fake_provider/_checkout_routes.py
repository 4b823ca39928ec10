"""The HTTP side of hosted Checkout: the ``/v1/checkout/sessions`` routes, the hosted page
at ``/c/pay/{id}`` and the control call ``POST /_fake/checkout/sessions/{id}/pay``."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fake_provider import _checkout_page as page
from fake_provider._hosted_faults import Payment as Run
from fake_provider._hosted_faults import run_payment
from fake_provider._provider import Provider
from fake_provider.checkout_sessions import HOSTED_CARDS, TABLE, CheckoutSessions, Payment
from fake_provider.types import JSON


def routes(provider: Provider) -> list[Route]:
    """The Stripe endpoints (before the ``/v1`` catch-all), the hosted page, the control call."""
    sessions = CheckoutSessions(provider)
    handle = provider.handle

    def sid(request: Request) -> str:
        return str(request.path_params["id"])

    async def create(request: Request) -> Response:
        base = str(request.base_url)
        return await handle(request, lambda p: sessions.prepare_create(p, base))

    async def listing(request: Request) -> Response:
        return await handle(request, sessions.prepare_list)

    async def retrieve(request: Request) -> Response:
        return await handle(request, lambda p: sessions.prepare_retrieve(sid(request), p))

    async def line_items(request: Request) -> Response:
        return await handle(request, lambda p: sessions.prepare_line_items(sid(request), p))

    async def expire(request: Request) -> Response:
        return await handle(request, lambda p: sessions.prepare_expire(sid(request), p))

    async def hosted_page(request: Request) -> Response:
        row = provider.store.get(TABLE, sid(request))
        if row is None:
            return HTMLResponse(
                page.notice(
                    "No such checkout", "This link is not a checkout session of this fake provider."
                ),
                404,
            )
        with provider.lock:
            sessions._refresh(sid(request))
            session = provider.store.get(TABLE, sid(request))["obj"]
        state = {"open": "open", "complete": "already_paid"}.get(session["status"], "expired")
        payment = Payment("expired" if state == "expired" else "already_paid", session)
        return _show(payment, sessions.line_items(sid(request)), state)

    def account_of(session_id: str) -> str | None:
        row = provider.store.get(TABLE, session_id)
        return None if row is None else str(row["account"])

    def metadata_of(session_id: str) -> dict[str, str] | None:
        """What the session's intent carries: its metadata over the session's."""
        row = provider.store.get(TABLE, session_id)
        return None if row is None else {**row["obj"]["metadata"], **row["pi"]["metadata"]}

    def intent_of(result: Payment) -> str | None:
        intent = result.session.get("payment_intent")
        return intent if isinstance(intent, str) else None

    def unknown_page(exc: Exception) -> Response:
        if isinstance(exc, KeyError):
            return HTMLResponse(
                page.notice(
                    "No such checkout", "This link is not a checkout session of this fake provider."
                ),
                404,
            )
        return HTMLResponse(page.notice("Unknown card", f"{exc}."), 400)

    async def hosted_pay(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        card = form.get("payment_method", HOSTED_CARDS[0])
        session_id = sid(request)

        def answer(result: Payment) -> Response:
            if result.outcome == "paid" and result.redirect_url:
                return RedirectResponse(result.redirect_url, status_code=303)
            return _show(result, sessions.line_items(session_id), result.outcome, result.message)

        run = Run(
            pay=lambda: sessions.pay(session_id, card),
            intent_of=intent_of,
            answer=answer,
            failure=lambda status, text: HTMLResponse(page.notice("Payment error", text), status),
            refused=unknown_page,
            account=account_of(session_id),
            metadata=metadata_of(session_id),
        )
        return await run_payment(provider, request, run)

    async def control_pay(request: Request) -> Response:
        session_id = sid(request)
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict) or set(body) - {"payment_method"}:
                raise ValueError("the body must be a JSON object with at most payment_method")
        except ValueError as exc:
            return _problem(400, "Invalid payment", f"{exc}.")
        card = body.get("payment_method", HOSTED_CARDS[0])

        def refused(exc: Exception) -> Response:
            if isinstance(exc, KeyError):
                return _problem(
                    404, "No such checkout session", f"There is no checkout session {session_id!r}."
                )
            return _problem(400, "Invalid payment", f"{exc}.")

        run = Run(
            pay=lambda: sessions.pay(session_id, card),
            intent_of=intent_of,
            answer=_control_answer,
            failure=lambda status, text: _problem(status, "Injected payment error", text),
            refused=refused,
            account=account_of(session_id),
            metadata=metadata_of(session_id),
        )
        return await run_payment(provider, request, run)

    post, get = ["POST"], ["GET"]
    return [
        Route("/v1/checkout/sessions", create, methods=post),
        Route("/v1/checkout/sessions", listing, methods=get),
        Route("/v1/checkout/sessions/{id}", retrieve, methods=get),
        Route("/v1/checkout/sessions/{id}/line_items", line_items, methods=get),
        Route("/v1/checkout/sessions/{id}/expire", expire, methods=post),
        Route("/c/pay/{id}", hosted_page, methods=get),
        Route("/c/pay/{id}", hosted_pay, methods=post),
        Route("/_fake/checkout/sessions/{id}/pay", control_pay, methods=post),
    ]


def _control_answer(result: Payment) -> Response:
    """What ``POST /_fake/checkout/sessions/{id}/pay`` answers for one attempt."""
    if result.outcome == "expired":
        return _problem(
            409,
            "Checkout session expired",
            "This session has expired and cannot be paid: create a new one.",
        )
    answer = {
        "outcome": result.outcome,
        "message": result.message,
        "redirect_url": result.redirect_url,
        "session": result.session,
    }
    return JSONResponse(answer)


def _show(result: Payment, items: list[JSON], state: str, message: str | None = None) -> Response:
    """The hosted page in one of its states: open, paid, already_paid, declined, expired."""
    status = {"declined": 402, "expired": 410}.get(state, 200)
    html = page.render(result.session, items, state, message, result.redirect_url, HOSTED_CARDS)
    return HTMLResponse(html, status)


def _problem(status: int, title: str, detail: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )
