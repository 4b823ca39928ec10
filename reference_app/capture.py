"""The capture algorithm: take the money a manual-capture confirm only authorised.

Same shape as the confirm (``checkout.py``), same key table, user-scoped:

    claim    one transaction: lock the (user, key) row, replay / refuse / lease it, lock
             the order and its live payment; a captured one answers "paid" at once, an
             authorised one is marked ``capturing`` (the wish to capture, stored first).
    capture  no transaction, no lock: ``POST /v1/payment_intents/{id}/capture`` with the
             payment's own derived key ``nodouble-capture-<payment id>``, never the client's.
    finish   one transaction: succeeded -> payment CONFIRMED, order paid (``settle``); no
             answer -> stays ``capturing``, the client is told 202 and the reconciler
             (``reconcile_capture``) finishes it with the same provider key.

The provider key is the same for every capture of a payment, whoever asks, so the amount
is taken at most once; a capture refused because it was already taken reads as taken.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from reference_app import db, flaws
from reference_app.checkout import (
    Checkout,
    ConfirmRequest,
    Respond,
    _Answer,
    active_payment,
    cancel_for_new_attempt,
    in_progress,
    live_lease,
    lock_order,
    lock_order_and_payment,
    outcome_for,
    problem,
    processing,
    replay,
    settle,
    store,
)
from reference_app.config import Settings
from reference_app.models import IdempotencyKey, Payment, utcnow
from reference_app.provider import ChargeResult, ProviderClient
from reference_app.schemas import ConfirmOutcome


def capture_key(payment_id: str) -> str:
    """The provider idempotency key of a payment's capture, derived from our payment id."""
    return f"nodouble-capture-{payment_id}"


@dataclass(frozen=True)
class CaptureCall:
    """Phase result: ask the provider to capture this payment's intent."""

    key_row_id: int
    payment_id: str
    intent_id: str


class Capturer:
    """Runs the capture phases; one instance per app, shared by every request thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: ProviderClient,
        settings: Settings,
        checkout: Checkout,
    ) -> None:
        self._sessions = sessions
        self._provider = provider
        self._settings = settings
        self._checkout = checkout

    def capture(self, request: ConfirmRequest) -> ConfirmOutcome:
        if flaws.active(self._settings, "capture_answer_not_stored"):
            # FLAW(capture_answer_not_stored): the capture is taken for idempotent by itself
            # (the provider key takes the money once), so no answer is kept under the
            # client's key: a retry is decided afresh, and one that finds the payment
            # captured already is refused as "nothing to capture" though it was charged.
            return self._capture_keyless(request)
        token = secrets.token_hex(16)
        try:
            step = db.transaction(self._sessions, lambda s: self._claim(s, request, token))
        except _Answer as answer:
            return answer.outcome
        if isinstance(step, Respond):
            return step.outcome
        result = self._provider.capture(step.intent_id, capture_key(step.payment_id))
        return db.transaction(self._sessions, lambda s: self._finish(s, step, result))

    def _capture_keyless(self, request: ConfirmRequest) -> ConfirmOutcome:
        """The capture_answer_not_stored flaw: the same phases with no key row."""

        def claim(session: Session) -> tuple[str, str]:
            order = lock_order(session, request.order_id, user=request.user)
            payment = None if order is None else active_payment(session, order.id)
            if (
                payment is None
                or payment.status != "PENDING"
                or payment.capture_status is None
                or payment.provider_payment_intent is None
            ):
                raise _Answer(
                    problem(
                        422,
                        "not-capturable",
                        "This order has no authorised payment to capture; nothing was charged.",
                        order_id=request.order_id,
                    )
                )
            payment.capture_status = "capturing"
            return payment.id, payment.provider_payment_intent

        try:
            payment_id, intent_id = db.transaction(self._sessions, claim)
        except _Answer as answer:
            return answer.outcome
        result = self._provider.capture(intent_id, capture_key(payment_id))

        def finish(session: Session) -> ConfirmOutcome:
            order, payment = lock_order_and_payment(session, payment_id)
            if result.outcome in ("unknown", "authorized"):
                return processing(order, payment)
            settle(session, order, payment, result)
            return outcome_for(order, payment)

        return db.transaction(self._sessions, finish)

    # -- phase "claim" ---------------------------------------------------------------------

    def _claim(
        self, session: Session, request: ConfirmRequest, token: str
    ) -> Respond | CaptureCall:
        now = utcnow()
        key = self._checkout.take_key(session, request, now, token)
        if isinstance(key, Respond):
            return key
        order = lock_order(session, request.order_id, user=request.user)
        if order is None:
            raise _Answer(problem(404, "not-found", f"No order {request.order_id} for you."))
        payment = active_payment(session, order.id)
        if payment is None or payment.capture_method != "manual":
            raise _Answer(
                problem(
                    409,
                    "nothing-to-capture",
                    "This order has no authorised payment to capture: confirm it first with "
                    '"capture_method": "manual".',
                )
            )
        key.order_id, key.payment_id = order.id, payment.id
        if payment.status == "CONFIRMED":  # captured already (another key, the reconciler)
            return Respond(store(key, outcome_for(order, payment)))
        if payment.capture_status is None or payment.provider_payment_intent is None:
            raise _Answer(
                problem(
                    409,
                    "not-authorised-yet",
                    "The authorisation of this order is still being decided; retry later "
                    "with the same Idempotency-Key.",
                )
            )
        holder = live_lease(session, payment.id, now, exclude=key.id)
        if holder is not None:  # another request is capturing it right now: wait for it
            raise _Answer(in_progress(holder - now))
        payment.capture_status, payment.updated_at = "capturing", now
        key.recovery_point = "payment_created"
        return CaptureCall(key.id, payment.id, payment.provider_payment_intent)

    # -- phase "finish" --------------------------------------------------------------------

    def _finish(self, session: Session, step: CaptureCall, result: ChargeResult) -> ConfirmOutcome:
        key = session.get_one(IdempotencyKey, step.key_row_id, with_for_update=True)
        if key.recovery_point == "finished":
            return replay(key)
        order, payment = lock_order_and_payment(session, step.payment_id)
        if result.outcome in ("unknown", "authorized") and payment.status == "PENDING":
            if flaws.active(self._settings, "capture_error_is_final"):
                # FLAW(capture_error_is_final): "the capture call failed" is taken for "the
                # capture did not happen": the attempt is closed as failed and the customer
                # told so, though the provider may have taken the money.
                cancel_for_new_attempt(session, payment, utcnow(), code="capture_failed")
                return store(
                    key,
                    problem(
                        402,
                        "capture-failed",
                        "The payment could not be captured; nothing was charged.",
                        order_id=order.id,
                        payment_id=payment.id,
                    ),
                )
            key.recovery_point = "provider_called"
            key.locked_until = key.lease_token = None
            return processing(order, payment)
        settle(session, order, payment, result)
        return store(key, outcome_for(order, payment))


def reconcile_capture(
    sessions: sessionmaker[Session], provider: ProviderClient, payment: Payment
) -> str | None:
    """The reconciler's step for a manual-capture payment; None when the usual path applies
    (not one, or its authorisation is not known yet).

    Authorised and not asked to capture: left alone (only the merchant decides to take
    it). ``capturing``: the capture is sent again with the same provider key (the
    provider answers the capture it made, or makes the one asked for); when that gives no
    answer, the intent is read; a definite answer is settled.
    """
    if payment.capture_method != "manual" or payment.status != "PENDING":
        return None
    if payment.capture_status is None:
        return None  # the authorisation itself is not known yet: the usual path finds it
    if payment.capture_status != "capturing" or payment.provider_payment_intent is None:
        return "PENDING"
    result = provider.capture(payment.provider_payment_intent, capture_key(payment.id))
    if result.outcome == "unknown":
        # A key whose stored answer is an error (a 5xx after the work) replays that error
        # for ever: the intent itself says whether the money was taken.
        result = provider.retrieve(payment.provider_payment_intent)
    if result.outcome in ("unknown", "authorized"):
        return "PENDING"

    def apply(session: Session) -> str:
        order, locked = lock_order_and_payment(session, payment.id)
        settle(session, order, locked, result)
        return locked.status

    return db.transaction(sessions, apply)
