"""3-D Secure: the page a customer is sent to, and its outcome.

Confirming with a card that always asks for authentication leaves the intent in
``requires_action`` with ``next_action.redirect_to_url`` pointing here
(``GET /3ds/{intent_id}``). The page has a *Complete* and a *Fail* button (forms that
POST back to the same URL); ``POST /_fake/3ds/{intent_id}`` with
``{"outcome": "complete"|"fail"}`` does the same without a browser. Completing charges
(or, with manual capture, authorises) exactly once; failing returns the intent to
``requires_payment_method`` with ``last_payment_error``. Either way the customer is then
redirected to the confirm's ``return_url`` with ``payment_intent``,
``payment_intent_client_secret`` and ``redirect_status``, as Stripe does. Finishing an
intent that no longer waits for authentication changes nothing and redirects again.
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fake_provider._cards import CARDS
from fake_provider._errors import StripeError
from fake_provider._hosted_faults import Payment, run_payment
from fake_provider._provider import Provider
from fake_provider.intents import THREEDS_PATH, Ctx, Payments
from fake_provider.types import JSON

Outcome = Literal["complete", "fail"]
OUTCOMES: tuple[Outcome, ...] = ("complete", "fail")
_FAILED_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)


@dataclass(frozen=True)
class Finished:
    intent: JSON
    changed: bool
    """False when the intent no longer waited for authentication (nothing was done)."""
    redirect_status: str
    redirect_url: str | None
    """The confirm's ``return_url`` with Stripe's query parameters, if it had one."""

    def record(self) -> JSON:
        return {
            "intent": self.intent,
            "changed": self.changed,
            "redirect_status": self.redirect_status,
            "redirect_url": self.redirect_url,
        }


def finish(pay: Payments, lock: threading.Lock, intent_id: str, outcome: Outcome) -> Finished:
    """Complete or fail the authentication of ``intent_id`` (``KeyError`` if unknown)."""
    with lock:
        row = pay.store.get("intents", intent_id)
        if row is None:
            raise KeyError(intent_id)
        intent: JSON = json.loads(json.dumps(row["obj"]))
        ctx = Ctx(row["account"], None, None)
        pm = intent["payment_method"]
        waiting = (
            intent["status"] == "requires_action"
            and pm in CARDS
            and CARDS[pm].outcome == "authenticate"
        )
        return_url = (pay.store.get("meta", f"3ds:{intent_id}") or {}).get("return_url")
        if waiting and outcome == "complete":
            try:
                intent = pay.authorize(ctx, intent, pm)
            except StripeError:  # declined after authentication: the intent says so
                intent = pay.load("intents", "payment_intent", intent_id, ctx.account, "intent")
        elif waiting:
            _fail(pay, ctx, intent, pm)
        passed = intent["status"] in ("succeeded", "requires_capture", "processing")
        status = "succeeded" if passed else "failed"
        url = None
        if return_url:
            query = urlencode(
                {
                    "payment_intent": intent["id"],
                    "payment_intent_client_secret": intent["client_secret"],
                    "redirect_status": status,
                }
            )
            url = f"{return_url}{'&' if '?' in return_url else '?'}{query}"
        return Finished(intent, waiting, status, url)


def _fail(pay: Payments, ctx: Ctx, intent: JSON, pm: str) -> None:
    error = {
        "type": "invalid_request_error",
        "code": "payment_intent_authentication_failure",
        "message": _FAILED_MESSAGE,
        "payment_method": {"id": pm, "object": "payment_method", "type": "card"},
    }
    intent.update(
        status="requires_payment_method",
        payment_method=None,
        next_action=None,
        last_payment_error=error,
    )
    pay.save("intents", ctx.account, intent)
    pay.ledger.record(
        "decline",
        account=ctx.account,
        amount=intent["amount"],
        currency=intent["currency"],
        intent_id=intent["id"],
        metadata=intent["metadata"],
    )
    pay.emit(ctx, "payment_intent.payment_failed", intent)


def routes(provider: Provider) -> list[Route]:
    """The page (``GET``/``POST /3ds/{intent_id}``) and the control call; both completions
    take the faults aimed at payments on the fake's pages (``_hosted_faults``)."""
    pay, lock = provider.payments, provider.lock

    def account_of(intent_id: str) -> str | None:
        row = pay.store.get("intents", intent_id)
        return None if row is None else str(row["account"])

    def metadata_of(intent_id: str) -> dict[str, str] | None:
        row = pay.store.get("intents", intent_id)
        return None if row is None else dict(row["obj"].get("metadata") or {})

    async def page(request: Request) -> Response:
        intent_id = request.path_params["intent_id"]
        row = pay.store.get("intents", intent_id)
        if row is None:
            return HTMLResponse(_html("Unknown payment", f"No payment {intent_id}."), 404)
        intent = row["obj"]
        amount = f"{intent['amount']} {intent['currency']} (smallest unit)"
        body = (
            f"<p>Payment <code>{html.escape(intent_id)}</code>: {html.escape(amount)}.</p>"
            f"<p>Status: <code>{html.escape(intent['status'])}</code>.</p>"
            f'<form method="post"><input type="hidden" name="outcome" value="complete">'
            f'<button type="submit" id="complete">Complete</button></form>'
            f'<form method="post"><input type="hidden" name="outcome" value="fail">'
            f'<button type="submit" id="fail">Fail</button></form>'
        )
        return HTMLResponse(_html("3D Secure test authentication", body))

    async def submit(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        outcome = (form.get("outcome") or [""])[0]
        if outcome not in OUTCOMES:
            return HTMLResponse(_html("Bad request", "outcome must be complete or fail."), 400)
        intent_id = request.path_params["intent_id"]

        def answer(done: Finished) -> Response:
            if done.redirect_url is not None:
                return RedirectResponse(done.redirect_url, status_code=303)
            status = done.intent["status"]
            text = f"Authentication {done.redirect_status}: the payment is {status}."
            return HTMLResponse(_html("3D Secure finished", f"<p>{html.escape(text)}</p>"))

        payment = Payment(
            pay=lambda: finish(pay, lock, intent_id, outcome),
            intent_of=lambda done: str(done.intent["id"]),
            answer=answer,
            failure=lambda status, text: HTMLResponse(_html("Payment error", text), status),
            refused=lambda exc: HTMLResponse(
                _html("Unknown payment", "There is no such payment."), 404
            ),
            account=account_of(intent_id),
            metadata=metadata_of(intent_id),
        )
        return await run_payment(provider, request, payment)

    async def control(request: Request) -> Response:
        try:
            spec = json.loads(await request.body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            spec = None
        outcome = spec.get("outcome") if isinstance(spec, dict) else None
        if outcome not in OUTCOMES:
            return _problem(400, "Invalid outcome", 'Send {"outcome": "complete"} or "fail".')
        intent_id = request.path_params["intent_id"]
        payment = Payment(
            pay=lambda: finish(pay, lock, intent_id, outcome),
            intent_of=lambda done: str(done.intent["id"]),
            answer=lambda done: JSONResponse(done.record()),
            failure=lambda status, text: _problem(status, "Injected payment error", text),
            refused=lambda exc: _problem(
                404, "No such payment intent", f"There is no intent {intent_id!r}."
            ),
            account=account_of(intent_id),
            metadata=metadata_of(intent_id),
        )
        return await run_payment(provider, request, payment)

    return [
        Route(f"{THREEDS_PATH}/{{intent_id}}", page, methods=["GET"]),
        Route(f"{THREEDS_PATH}/{{intent_id}}", submit, methods=["POST"]),
        Route("/_fake/3ds/{intent_id}", control, methods=["POST"]),
    ]


def _html(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _problem(status: int, title: str, detail: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )
