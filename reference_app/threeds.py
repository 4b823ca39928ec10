"""3-D Secure: what the checkout does when a card asks the customer to authenticate.

The confirm (``checkout.py``) sends every charge with our return page as ``return_url``
(stored on the payment before the first call). A card that asks for 3-D Secure leaves the
intent in ``requires_action``: the payment stays PENDING with the provider page the
customer must complete (``payments.action_url``), the API answers 202 ``requires_action``
with that page, the form flow redirects there (303), and the order's page key is rotated.

Guards, each removable by one flaw (``reference_app/flaws.py``):

- the return page (``threeds_pages.py``) READS the intent and compare-and-sets the payment
  (:func:`settle_return`); it never confirms again (flaw ``threeds_return_confirms``);
- a new Pay on an order whose payment awaits authentication (a second tab, Back, another
  card after an abandoned challenge) confirms the SAME intent again (``checkout.resume``),
  so the old challenge is void and at most one charge exists (flaw
  ``threeds_new_intent_per_attempt``).

The reconciler and the webhooks settle an intent that succeeds later, as for any payment;
``requires_action`` is neither paid nor failed for them (``ChargeResult`` outcome
``action``). A reconfirm the provider refuses because the intent already left
``requires_action`` reads the intent instead (``Checkout.confirm``). With manual capture a
``requires_capture`` intent is recorded as authorised here and there. A failure (this page,
or the ``payment_failed`` webhook) never fails a payment another request holds a live lease
on: that request is confirming the same intent with a new card, and its answer settles it.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from reference_app import authorization, db, flaws
from reference_app.checkout import charge_request, live_lease, lock_order, lock_payment, settle
from reference_app.config import Settings
from reference_app.models import Order, Payment, utcnow
from reference_app.provider import ProviderClient
from reference_app.schemas import ConfirmOutcome, OrderView

CARD = "pm_card_threeDSecure2Required"
"""The test card the pages offer that always asks for 3-D Secure."""


def return_url(request: Request, order_id: str, *, spa: bool) -> str:
    """Absolute URL of the return page of ``order_id`` on the host the customer used."""
    base = str(request.base_url).rstrip("/")
    url = f"{base}/checkout/{quote(order_id, safe='')}/return"
    return f"{url}?via=spa" if spa else url


def redirect_of(outcome: ConfirmOutcome) -> str | None:
    """The challenge page a 202 ``requires_action`` answer sends the customer to."""
    if outcome.status != 202 or outcome.body.get("status") != "requires_action":
        return None
    action: Any = outcome.body.get("next_action") or {}
    url = (action.get("redirect_to_url") or {}).get("url")
    return url if isinstance(url, str) and url else None


def challenge_of(order: OrderView) -> str | None:
    """The page where the order's PENDING payment waits for the customer, if it does."""
    payment = order.payment
    if payment is None or payment.status != "PENDING":
        return None
    return payment.action_url


def allow_challenge(response: Response, provider_url: str) -> Response:
    """Let the confirm form's 303 lead to the provider's challenge page: CSP ``form-action``
    also governs where a form submission is redirected."""
    parts = urlsplit(provider_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = response.headers.get("Content-Security-Policy")
    if policy and "form-action 'self'" in policy:
        policy = policy.replace("form-action 'self'", f"form-action 'self' {origin}")
        response.headers["Content-Security-Policy"] = policy
    return response


def settle_return(
    sessions: sessionmaker[Session],
    provider: ProviderClient,
    settings: Settings,
    user: str,
    order_id: str,
) -> None:
    """The return page's one action: read the awaited intent and settle the payment.

    Reads, never confirms: a reload, Back or a stale challenge completed later only reads
    again. An intent still waiting, or a provider that cannot answer, changes nothing."""

    def awaited(session: Session) -> Payment | None:
        return session.execute(
            sa.select(Payment)
            .join(Order, Order.id == Payment.order_id)
            .where(
                Order.id == order_id,
                Order.user_id == user,
                Payment.status == "PENDING",
                Payment.action_url.is_not(None),
            )
        ).scalar_one_or_none()

    payment = db.transaction(sessions, awaited)
    if payment is None or payment.provider_payment_intent is None:
        return
    intent = payment.provider_payment_intent
    if flaws.active(settings, "threeds_return_confirms"):
        # FLAW(threeds_return_confirms): the return page "finishes" the payment by
        # confirming the intent again; after a completed challenge the provider refuses
        # (the intent already succeeded) and the refusal is stored as a decline.
        again = dataclasses.replace(
            charge_request(payment), provider_key=f"nodouble-return-{secrets.token_hex(8)}"
        )
        result = provider.confirm_intent(intent, again)
    else:
        result = provider.retrieve(intent)
        if result.outcome == "unknown":
            return  # nothing learnt; the reconciler and the webhooks settle it later

    def apply(session: Session) -> None:
        order = lock_order(session, order_id, user=user)
        if order is None:
            return
        locked = lock_payment(session, payment.id)
        if result.outcome == "authorized" and locked.status == "PENDING":
            authorization.record_authorized(order, locked, result.intent_id)  # manual: held
            return
        if result.outcome == "declined" and live_lease(session, locked.id, utcnow()):
            return  # a Pay is confirming this intent again (a new card): its answer settles it
        settle(session, order, locked, result)

    db.transaction(sessions, apply)
