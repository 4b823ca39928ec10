"""Faults on the payments a browser makes on the fake's own pages.

The hosted Checkout page (``POST /c/pay/{id}``), its control call
(``POST /_fake/checkout/sessions/{id}/pay``) and the 3-D Secure completion
(``POST /3ds/{id}``, ``POST /_fake/3ds/{id}``) charge without an API request. Each such
payment goes through :func:`run_payment`: it gets a ``Request-Id``, is written to the
request log (``money: true``, no key) and takes the first armed fault aimed at it
(``"hosted"`` or its path), which acts as on the API:

- ``delay``: wait ``delay_ms``, then pay (a slow payment page);
- ``error_before``: answer ``status`` without paying;
- ``error_after``: pay, then answer ``status`` instead of the redirect;
- ``drop_after``: pay, then close the connection without a byte of answer;
- ``hang_after``: pay, then hold the answer until the browser closes the connection or
  ``delay_ms`` passes;
- ``await_webhook``: pay, then hold the answer (the redirect back to the shop) until every
  event the payment emitted has been delivered (a 2xx) to each endpoint that wants it, or
  ``delay_ms`` passes: the shop hears the webhook before the browser comes back.

Its hit records the request, ``money: true``, whether the payment really wrote a charge
line (``charged``) and what the fault did (``effect``), like a hit on an API request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from fake_provider._provider import DroppedResponse, Provider, _hold, _request_id
from fake_provider.faults import Fault
from fake_provider.types import FaultHit, RequestRecord

R = TypeVar("R")
_POLL = 0.02
"""Seconds between two looks at the delivery log while ``await_webhook`` holds."""


@dataclass(frozen=True)
class Payment(Generic[R]):
    """How to run one payment on a page and how to answer it."""

    pay: Callable[[], R]
    """Does the payment under the state lock (raises ``KeyError``/``ValueError`` as the route
    expects)."""
    intent_of: Callable[[R], str | None]
    """The PaymentIntent the payment charged (or tried to)."""
    answer: Callable[[R], Response]
    """The page's ordinary answer (a redirect, a page, JSON)."""
    failure: Callable[[int, str], Response]
    """The answer to show for an injected error: status and one sentence."""
    refused: Callable[[Exception], Response]
    """The answer when ``pay`` raised ``KeyError`` (unknown id) or ``ValueError``."""
    account: str | None = None
    metadata: dict[str, str] | None = None
    """The metadata of the payment's intent, which a scoped fault reads (``None``: none)."""


async def run_payment(provider: Provider, request: Request, payment: Payment[R]) -> Response:
    """Pay through ``payment`` under whatever hosted-page fault is armed; log it."""
    method, path = request.method, request.url.path
    log: RequestRecord = {
        "seq": 0,
        "request_id": _request_id(),
        "method": method,
        "path": path,
        "idempotency_key": None,
        "status": None,
        "replayed": False,
        "fault": None,
        "money": True,
        "started": time.time(),
        "duration_ms": 0.0,
        "account": payment.account,
    }
    t0 = time.monotonic()
    hit: FaultHit | None = None
    gone = False
    try:
        taken = provider.faults.take(
            method,
            path,
            money=True,
            hosted=True,
            request_id=log["request_id"],
            account=payment.account,
            metadata=payment.metadata,
        )
        fault, hit = taken if taken is not None else (None, None)
        if fault is not None:
            log["fault"] = f"{fault.id}:{fault.mode}"
        try:
            response, gone = await _faulted(provider, request, payment, fault, hit)
        except (KeyError, ValueError) as exc:
            response = payment.refused(exc)
    finally:
        if hit is not None and hit["effect"] is None:
            hit["effect"] = "did nothing: the payment was refused before any work"
        log["duration_ms"] = round((time.monotonic() - t0) * 1000, 3)
        provider._log(log)
    if not isinstance(response, DroppedResponse) and not gone:
        log["status"] = response.status_code
    response.headers["Request-Id"] = log["request_id"]
    return response


async def _faulted(
    provider: Provider,
    request: Request,
    payment: Payment[R],
    fault: Fault | None,
    hit: FaultHit | None,
) -> tuple[Response, bool]:
    """The payment with ``fault`` applied; the answer and whether the browser left first."""
    if fault is None or hit is None:
        return payment.answer(payment.pay()), False
    if fault.mode == "error_before":
        hit["effect"] = f"answered {fault.status} before any work"
        return payment.failure(fault.status, f"Injected {fault.status} before any work."), False
    if fault.mode == "delay":
        await asyncio.sleep(fault.delay_ms / 1000)
    before_ledger, before_events = provider.ledger.cursor(), len(provider.webhooks.emitted)
    result = payment.pay()
    intent = payment.intent_of(result)
    hit["charged"] = intent is not None and any(
        e["kind"] == "charge" and e["intent_id"] == intent
        for e in provider.ledger.entries(after_seq=before_ledger)
    )
    if fault.mode == "delay":
        hit["effect"] = f"delayed {fault.delay_ms} ms, then worked normally"
    elif fault.mode == "error_after":
        hit["effect"] = f"worked then answered {fault.status}"
        return payment.failure(fault.status, f"Injected {fault.status} after the payment."), False
    elif fault.mode == "drop_after":
        hit["effect"] = "worked then dropped the connection"
        return DroppedResponse(), False
    elif fault.mode == "hang_after":
        held, gone = await _hold(request, fault.delay_ms / 1000)
        hit["effect"] = (
            f"worked then held the answer {held:.2f} s until the client closed the connection"
            if gone
            else f"worked then held the answer {held:.1f} s (the limit), then answered"
        )
        return payment.answer(result), gone
    elif fault.mode == "await_webhook":
        wanted = {intent, _session_of(request)} - {None}
        events = [
            event_id
            for event_id, objects in provider.webhooks.emitted[before_events:]
            if objects & wanted
        ]
        hit["effect"] = await _await_deliveries(provider, events, fault.delay_ms / 1000)
    return payment.answer(result), False


async def _await_deliveries(provider: Provider, events: list[str], limit: float) -> str:
    """Wait until each of ``events`` was delivered where wanted; say what happened."""
    started = time.monotonic()
    events = provider.webhooks.wanted(events)
    if not events:
        return "worked; no webhook endpoint wanted the payment's events, so nothing was held"
    while True:
        waiting = provider.webhooks.undelivered(events)
        held = time.monotonic() - started
        if not waiting:
            types = ", ".join(provider.webhooks.event_type(e) for e in events)
            verb = "was" if len(events) == 1 else "were"
            return f"worked then held the answer {held:.2f} s until {types} {verb} delivered"
        if held >= limit:
            types = ", ".join(provider.webhooks.event_type(e) for e in waiting)
            return f"worked then held the answer {limit:.1f} s (the limit); {types} undelivered"
        await asyncio.sleep(min(_POLL, limit - held))


def _session_of(request: Request) -> str | None:
    """The Checkout Session id in a hosted-page path (``None`` for 3-D Secure)."""
    session: str | None = request.path_params.get("id")
    return session
