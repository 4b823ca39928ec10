"""Provider webhooks: verify the signature, dedupe by event id, compare-and-set the payment."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from reference_app import db, flaws, hosted
from reference_app.checkout import live_lease, lock_order, lock_payment, settle
from reference_app.models import Payment, WebhookEvent, utcnow
from reference_app.provider import ChargeResult

TOLERANCE_SECONDS = 300
HANDLED = {"payment_intent.succeeded": "succeeded", "payment_intent.payment_failed": "declined"}
Handling = Literal["processed", "duplicate", "ignored"]
ReadIntent = Callable[[str], ChargeResult]
"""Reads a PaymentIntent as the provider has it now (``ProviderClient.retrieve``)."""


class SignatureError(ValueError):
    """The Stripe-Signature header is missing, malformed, wrong or too old."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header value for ``payload`` (used by tests and tools)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless some v1 signature matches and the timestamp is fresh."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed timestamp in Stripe-Signature") from None
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("Stripe-Signature needs t= and v1=")
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("no signature matches the payload")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("signature timestamp is outside the tolerance")


def handle(
    sessions: sessionmaker[Session],
    event: dict[str, Any],
    *,
    flaw: str = "",
    read_intent: ReadIntent | None = None,
) -> Handling:
    """Apply one verified event exactly once (the insert and the effect share a transaction).

    A ``payment_failed`` event says how one attempt ended, and events arrive late and out of
    order: by then the customer may have started another attempt on the same intent (a new
    card, a new 3-D Secure challenge). With ``read_intent``, the intent is read from the
    provider first (outside the transaction) and only an intent that is still failed fails
    the payment; one that has moved on is left to its own attempt and the reconciler.
    """
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id:
        raise ValueError("an event needs a string id and type")
    now: ChargeResult | None = None
    if read_intent is not None and HANDLED.get(event_type) == "declined":
        intent_id = _intent_id(event)
        if intent_id is not None:
            now = read_intent(intent_id)

    def work(session: Session) -> Handling:
        row_values = {"event_id": event_id, "event_type": event_type[:64], "received_at": utcnow()}
        if flaws.active(flaw, "webhook_no_dedupe"):
            # FLAW(webhook_no_dedupe): no insert-or-find on the event id: every delivery is
            # taken for a new event, so a redelivery collides with UNIQUE event_id and fails
            # (500), and the provider keeps retrying an event we already applied.
            session.add(WebhookEvent(**row_values))
            session.flush()
        else:
            db.insert_ignore(session, WebhookEvent, row_values)
        row = session.execute(
            sa.select(WebhookEvent).where(WebhookEvent.event_id == event_id).with_for_update()
        ).scalar_one()
        if row.processed_at is not None:
            return "duplicate"
        row.processed_at = utcnow()
        if event_type in hosted.EVENTS:
            return hosted.apply_event(session, event, flaw=flaw)
        outcome = HANDLED.get(event_type)
        if outcome is None:
            return "ignored"
        intent = event.get("data", {}).get("object", {})
        if not isinstance(intent, dict):
            raise ValueError("event data.object must be an object")
        payment = _find_payment(session, intent)
        if payment is None:
            return "ignored"
        order = lock_order(session, payment.order_id)
        if order is None:
            raise RuntimeError(f"payment {payment.id} has no order")
        locked = lock_payment(session, payment.id)
        code = _failure_code(intent)
        intent_id = intent.get("id") if isinstance(intent.get("id"), str) else None
        result = ChargeResult(
            "succeeded" if outcome == "succeeded" else "declined", intent_id, code
        )
        if now is not None and result.outcome == "declined":
            if now.outcome not in ("declined", "succeeded"):
                # Stale: the intent is waiting on a newer attempt (another challenge, a
                # hold), or the provider could not say; that attempt or the reconciler
                # settles the payment, not this event.
                return "processed"
            result = ChargeResult(now.outcome, intent_id, now.code if now.code else code)
        if result.outcome == "declined" and live_lease(session, locked.id, utcnow()):
            # A failed 3-D Secure challenge, while a Pay confirms the same intent again with
            # another card: that request's own answer settles the payment, not this event.
            return "processed"
        settle(session, order, locked, result)
        return "processed"

    return db.transaction(sessions, work)


def _intent_id(event: dict[str, Any]) -> str | None:
    data = event.get("data")
    intent = data.get("object") if isinstance(data, dict) else None
    ident = intent.get("id") if isinstance(intent, dict) else None
    return ident if isinstance(ident, str) and ident else None


def _find_payment(session: Session, intent: dict[str, Any]) -> Payment | None:
    metadata = intent.get("metadata")
    payment_id = metadata.get("payment_id") if isinstance(metadata, dict) else None
    if isinstance(payment_id, str) and payment_id:
        found = session.get(Payment, payment_id)
        if found is not None:
            return found
    intent_id = intent.get("id")
    if isinstance(intent_id, str) and intent_id:
        return session.execute(
            sa.select(Payment).where(Payment.provider_payment_intent == intent_id)
        ).scalar_one_or_none()
    return None


def _failure_code(intent: dict[str, Any]) -> str:
    error = intent.get("last_payment_error")
    if isinstance(error, dict):
        return str(error.get("decline_code") or error.get("code") or "payment_failed")
    return "payment_failed"
