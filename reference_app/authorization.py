"""Manual capture, the confirm's side: which capture method a payment uses, and what a
confirm answers when the provider only authorised the amount.

A manual-capture payment stays ``PENDING`` while it is authorised (the money is held, not
taken), so it keeps the order's one live-payment slot (UNIQUE ``active_order_id``) and no
second attempt can start; ``capture_status`` says how far it got. ``reference_app/capture.py``
takes the money later.
"""

from __future__ import annotations

from typing import Any, Protocol

from reference_app.models import Order, Payment, utcnow
from reference_app.schemas import ConfirmOutcome


class _HasCaptureMethod(Protocol):
    @property
    def capture_method(self) -> str: ...


def capture_method_for(payload: dict[str, Any], settings: _HasCaptureMethod) -> str:
    """``manual`` or ``automatic``: what the confirm asks, else the checkout's setting."""
    asked = payload.get("capture_method")
    chosen = asked if asked in ("automatic", "manual") else settings.capture_method
    return "manual" if chosen == "manual" else "automatic"


def manual_refused(payload: dict[str, Any], settings: _HasCaptureMethod) -> bool:
    """True when the confirm asks for manual capture and the setting forbids it."""
    return payload.get("capture_method") == "manual" and (
        settings.capture_method == "automatic_only"
    )


def record_authorized(order: Order, payment: Payment, intent_id: str | None) -> ConfirmOutcome:
    """The provider holds the amount (``requires_capture``): note it, answer ``authorized``.

    The caller holds the order and payment row locks. A payment whose capture has started
    keeps its later state; the answer is the same.
    """
    if payment.status != "PENDING" or payment.capture_method != "manual":
        raise RuntimeError(f"payment {payment.id} is {payment.status}, not a manual PENDING one")
    if payment.capture_status is None:
        payment.capture_status = "authorized"
        payment.updated_at = utcnow()
    if intent_id:
        payment.provider_payment_intent = intent_id
    payment.action_url = None  # the intent left requires_action: no challenge to offer
    return ConfirmOutcome(200, authorized_body(order, payment), {})


def authorized_body(order: Order, payment: Payment) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "status": "authorized",
        "payment_id": payment.id,
        "provider_payment_intent": payment.provider_payment_intent,
        "amount": payment.amount,
        "currency": payment.currency,
        "detail": "The amount is authorised, not taken: POST /api/orders/{id}/capture "
        "with an Idempotency-Key takes it.",
    }
