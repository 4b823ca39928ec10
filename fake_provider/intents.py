"""PaymentIntents and their Charges: the state machine behind ``/v1/payment_intents``.

Each ``prepare_*`` function validates parameters (raising a 400 that is never
stored under an idempotency key) and returns the work to do; the work runs under
the provider's state lock and may raise errors that *are* stored (402 declines,
404s, state conflicts), as Stripe does once a request has begun executing.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fake_provider._cards import CARDS
from fake_provider._errors import StripeError, invalid, not_found
from fake_provider._params import (
    Params,
    check_known,
    check_minimum,
    get_amount,
    get_bool,
    get_choice,
    get_currency,
    get_expand,
    get_metadata,
    get_str,
    state_error,
)
from fake_provider._state import Store
from fake_provider.ledger import Ledger
from fake_provider.types import JSON

THREEDS_PATH = "/3ds"
"""Where the fake serves the 3-D Secure page of an intent: ``/3ds/{intent_id}``."""
# Accepted for compatibility with common client code, and otherwise ignored.
IGNORED = frozenset(
    {
        "payment_method_types",
        "automatic_payment_methods",
        "customer",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "setup_future_usage",
        "return_url",
        "off_session",
        "error_on_requires_action",
        "use_stripe_sdk",
        "payment_method_options",
        "shipping",
        "mandate_data",
        "confirmation_method",
    }
)
CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
CANCEL_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")


@dataclass(frozen=True)
class Ctx:
    account: str
    idempotency_key: str | None
    request_id: str | None = None
    base_url: str = ""
    """Where the client reached the fake (``http://host:port``): 3-D Secure pages live there."""


Emit = Callable[[Ctx, str, JSON], object]
Work = Callable[[Ctx], JSON]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class Payments:
    def __init__(self, store: Store, ledger: Ledger, emit: Emit) -> None:
        self.store, self.ledger, self.emit = store, ledger, emit
        self._last_n = 0
        self.minimum_amounts = True
        """Refuse amounts below Stripe's per-currency minimum charge (``amount_too_small``)."""

    # -- loading and showing -------------------------------------------------------
    def load(self, table: str, kind: str, object_id: str, account: str, param: str) -> JSON:
        row = self.store.get(table, object_id)
        if row is None or row["account"] != account:
            raise not_found(kind, object_id, param)
        obj: JSON = copy.deepcopy(row["obj"])  # changes count only once saved
        return obj

    def save(self, table: str, account: str, obj: JSON) -> None:
        old = self.store.get(table, obj["id"])
        if old is not None and "n" in old:
            n = old["n"]
        else:  # creation order, so that lists can show the newest first within one second
            n = self._last_n = max(self._last_n + 1, time.time_ns())
        row = {"account": account, "obj": copy.deepcopy(obj), "n": n}
        self.store.put(table, obj["id"], row)

    def view(self, intent: JSON, expand: list[str], account: str) -> JSON:
        shown = dict(intent)
        if "latest_charge" in expand and intent["latest_charge"]:
            shown["latest_charge"] = self.load(
                "charges", "charge", intent["latest_charge"], account, "id"
            )
        return shown

    # -- create --------------------------------------------------------------------
    def prepare_create(self, params: Params) -> Work:
        allowed = {
            "amount",
            "currency",
            "metadata",
            "payment_method",
            "confirm",
            "capture_method",
            "description",
            "expand",
        }
        check_known(params, allowed, IGNORED)
        _check_ignored(params)
        amount = get_amount(params, "amount", required=True)
        currency = get_currency(params)
        metadata = get_metadata(params) or {}
        pm = _payment_method(params)
        confirm = get_bool(params, "confirm") or False
        capture = get_choice(params, "capture_method", CAPTURE_METHODS) or "automatic"
        description = get_str(params, "description", max_len=1000)
        expand = get_expand(params)
        return_url = get_str(params, "return_url", max_len=2048) or None
        if confirm and pm is None:
            raise invalid(
                "Confirming a PaymentIntent needs a payment_method.",
                param="payment_method",
                code="parameter_missing",
            )
        if self.minimum_amounts:  # after the shape checks, as their errors come first
            assert amount is not None
            check_minimum(amount, currency)

        def work(ctx: Ctx) -> JSON:
            intent_id = new_id("pi")
            intent: JSON = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0,
                "currency": currency,
                "status": "requires_confirmation" if pm else "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "capture_method": capture,
                "confirmation_method": "automatic",
                "created": int(time.time()),
                "livemode": False,
                "metadata": metadata,
                "payment_method": pm,
                "latest_charge": None,
                "last_payment_error": None,
                "next_action": None,
                "canceled_at": None,
                "cancellation_reason": None,
                "description": description,
                "payment_method_types": ["card"],
            }
            self.save("intents", ctx.account, intent)
            if confirm:
                intent = self._confirm(ctx, intent, pm, return_url)
            return self.view(intent, expand, ctx.account)

        return work

    # -- confirm -------------------------------------------------------------------
    def prepare_confirm(self, intent_id: str, params: Params) -> Work:
        check_known(params, {"payment_method", "capture_method", "expand"}, IGNORED)
        _check_ignored(params)
        pm = _payment_method(params)
        return_url = get_str(params, "return_url", max_len=2048) or None
        capture = get_choice(params, "capture_method", CAPTURE_METHODS)
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            intent = self.load("intents", "payment_intent", intent_id, ctx.account, "intent")
            if intent["status"] not in (
                "requires_payment_method",
                "requires_confirmation",
                "requires_action",
            ):
                raise self._state_error(intent, "confirmed")
            if capture is not None:
                intent["capture_method"] = capture
            method = pm or intent["payment_method"]
            if method is None:
                raise state_error(
                    "This PaymentIntent has no payment method: pass payment_method to confirm it."
                )
            got = self._confirm(ctx, intent, method, return_url)
            return self.view(got, expand, ctx.account)

        return work

    def _confirm(self, ctx: Ctx, intent: JSON, pm: str | None, return_url: str | None) -> JSON:
        """Confirm with ``pm``: a card that needs 3-D Secure waits in ``requires_action``."""
        assert pm is not None
        if CARDS[pm].outcome != "authenticate":
            return self.authorize(ctx, intent, pm)
        url = f"{ctx.base_url}{THREEDS_PATH}/{intent['id']}"
        redirect = {"url": url, "return_url": return_url}
        intent.update(
            status="requires_action",
            payment_method=pm,
            last_payment_error=None,
            next_action={"type": "redirect_to_url", "redirect_to_url": redirect},
        )
        self.save("intents", ctx.account, intent)
        # where the 3-D Secure page sends the customer afterwards (not a field of the intent)
        self.store.put("meta", f"3ds:{intent['id']}", {"return_url": return_url})
        self.emit(ctx, "payment_intent.requires_action", intent)
        return intent

    def authorize(self, ctx: Ctx, intent: JSON, pm: str) -> JSON:
        """Ask the card network: decline (402, stored), authorise (manual) or charge."""
        card = CARDS[pm]
        succeeds = card.outcome != "decline"
        decline_code = card.decline_code if not succeeds else None
        message = card.message
        intent["next_action"] = None
        meta = intent["metadata"]
        common: dict[str, Any] = {
            "account": ctx.account,
            "amount": intent["amount"],
            "currency": intent["currency"],
            "intent_id": intent["id"],
            "metadata": meta,
            "idempotency_key": ctx.idempotency_key,
        }
        manual = intent["capture_method"] == "manual"
        charge = self._new_charge(
            ctx, intent, pm, succeeds and not manual, None if succeeds else card.code or ""
        )
        if not succeeds:
            charge["outcome"]["reason"] = decline_code
            self.save("charges", ctx.account, charge)
        self.ledger.record("attempt", charge_id=charge["id"], **common)
        intent["latest_charge"] = charge["id"]
        intent["payment_method"] = pm
        if not succeeds:
            error = {
                "type": "card_error",
                "code": card.code,
                "message": message,
                "charge": charge["id"],
                "param": card.param or "payment_method",
                "payment_method": {"id": pm, "object": "payment_method", "type": "card"},
            }
            if decline_code is not None:
                error["decline_code"] = decline_code
            intent.update(
                status="requires_payment_method", payment_method=None, last_payment_error=error
            )
            self.save("intents", ctx.account, intent)
            self.ledger.record("decline", charge_id=charge["id"], **common)
            self.emit(ctx, "payment_intent.payment_failed", intent)
            extra = {
                k: v for k, v in error.items() if k not in ("type", "code", "message", "param")
            }
            raise StripeError(
                402,
                "card_error",
                str(message),
                code=card.code,
                param=card.param or "payment_method",
                extra={**extra, "payment_intent": intent},
            )
        intent["last_payment_error"] = None
        if manual:
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self.save("intents", ctx.account, intent)
            return intent
        return self._succeed(ctx, intent, charge, intent["amount"])

    def _new_charge(
        self, ctx: Ctx, intent: JSON, pm: str, captured: bool, failure_code: str | None
    ) -> JSON:
        charge: JSON = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"] if captured else 0,
            "amount_refunded": 0,
            "captured": captured,
            "refunded": False,
            "currency": intent["currency"],
            "created": int(time.time()),
            "livemode": False,
            "metadata": intent["metadata"],
            "paid": failure_code is None,
            "payment_intent": intent["id"],
            "payment_method": pm,
            "status": "failed" if failure_code is not None else "succeeded",
            "description": intent["description"],
            "failure_code": failure_code,
            "outcome": {
                "type": "issuer_declined" if failure_code is not None else "authorized",
                "reason": None,
            },
        }
        self.save("charges", ctx.account, charge)
        return charge

    def _succeed(self, ctx: Ctx, intent: JSON, charge: JSON, amount: int) -> JSON:
        charge.update(captured=True, amount_captured=amount)
        self.save("charges", ctx.account, charge)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.save("intents", ctx.account, intent)
        self.ledger.record(
            "charge",
            account=ctx.account,
            amount=amount,
            currency=intent["currency"],
            intent_id=intent["id"],
            charge_id=charge["id"],
            metadata=intent["metadata"],
            idempotency_key=ctx.idempotency_key,
        )
        self.emit(ctx, "payment_intent.succeeded", intent)
        return intent

    # -- capture and cancel --------------------------------------------------------
    def prepare_capture(self, intent_id: str, params: Params) -> Work:
        check_known(params, {"amount_to_capture", "expand", "metadata"}, IGNORED)
        amount = get_amount(params, "amount_to_capture")
        metadata = get_metadata(params)
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            intent = self.load("intents", "payment_intent", intent_id, ctx.account, "intent")
            if intent["status"] != "requires_capture":  # a second capture too, as on Stripe
                error = self._state_error(intent, "captured")
                error.message = (
                    f"This PaymentIntent could not be captured because it has a status of "
                    f"{intent['status']}. Only a PaymentIntent with one of the following "
                    "statuses may be captured: requires_capture."
                )
                raise error
            if amount is not None and amount > intent["amount_capturable"]:
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"amount_to_capture ({amount}) is larger than the amount that can be "
                    f"captured ({intent['amount_capturable']}).",
                    param="amount_to_capture",
                    code="amount_too_large",
                )
            if metadata is not None:
                intent["metadata"] = {**intent["metadata"], **metadata}
            charge = self.load("charges", "charge", intent["latest_charge"], ctx.account, "id")
            got = self._succeed(ctx, intent, charge, amount or intent["amount"])
            return self.view(got, expand, ctx.account)

        return work

    def prepare_cancel(self, intent_id: str, params: Params) -> Work:
        check_known(params, {"cancellation_reason", "expand"})
        reason = get_choice(params, "cancellation_reason", CANCEL_REASONS)
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            intent = self.load("intents", "payment_intent", intent_id, ctx.account, "intent")
            if intent["status"] in ("succeeded", "canceled", "processing"):
                raise self._state_error(intent, "canceled")
            intent.update(
                status="canceled",
                canceled_at=int(time.time()),
                cancellation_reason=reason,
                amount_capturable=0,
            )
            self.save("intents", ctx.account, intent)
            self.emit(ctx, "payment_intent.canceled", intent)
            return self.view(intent, expand, ctx.account)

        return work

    def _state_error(self, intent: JSON, verb: str) -> StripeError:
        error = state_error(
            f"This PaymentIntent's status is {intent['status']}, so it cannot be {verb}."
        )
        error.extra["payment_intent"] = dict(intent)
        error.stored = True
        return error


def _payment_method(params: Params) -> str | None:
    pm = get_str(params, "payment_method", max_len=255)
    if pm in (None, ""):
        return None
    if pm not in CARDS:
        raise StripeError(
            400,
            "invalid_request_error",
            f"No such PaymentMethod: '{pm}'",
            code="resource_missing",
            param="payment_method",
            stored=False,
        )
    return pm


def _check_ignored(params: Params) -> None:
    """Ignored parameters are still checked for a sane shape."""
    types = params.get("payment_method_types")
    if types is not None and (not isinstance(types, list) or not all(t == "card" for t in types)):
        raise invalid(
            "The fake supports only payment_method_types=['card'].", param="payment_method_types"
        )
    auto = params.get("automatic_payment_methods")
    if auto is not None:
        if not isinstance(auto, dict) or set(auto) - {"enabled", "allow_redirects"}:
            raise invalid(
                "automatic_payment_methods takes enabled and allow_redirects.",
                param="automatic_payment_methods",
            )
        get_bool(auto, "enabled")
