"""Refunds (``POST /v1/refunds``): never more than the charge's unrefunded amount."""

from __future__ import annotations

import time

from fake_provider._errors import StripeError, invalid, missing_param
from fake_provider._params import Params, check_known, get_amount, get_choice, get_metadata, get_str
from fake_provider.intents import Ctx, Payments, Work, new_id
from fake_provider.types import JSON

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def prepare_refund(payments: Payments, params: Params) -> Work:
    check_known(params, {"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
    intent_id = get_str(params, "payment_intent", max_len=255) or None
    charge_id = get_str(params, "charge", max_len=255) or None
    if intent_id is None and charge_id is None:
        raise missing_param("payment_intent")
    if intent_id is not None and charge_id is not None:
        raise invalid("Give either payment_intent or charge, not both.", param="charge")
    amount = get_amount(params, "amount")
    reason = get_choice(params, "reason", REASONS)
    metadata = get_metadata(params) or {}

    def work(ctx: Ctx) -> JSON:
        if intent_id is not None:
            intent = payments.load(
                "intents", "payment_intent", intent_id, ctx.account, "payment_intent"
            )
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"This PaymentIntent's status is {intent['status']}: only a succeeded "
                    "PaymentIntent can be refunded.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            charge = payments.load(
                "charges", "charge", intent["latest_charge"], ctx.account, "charge"
            )
        else:
            assert charge_id is not None
            charge = payments.load("charges", "charge", charge_id, ctx.account, "charge")
            intent = payments.load(
                "intents", "payment_intent", charge["payment_intent"], ctx.account, "charge"
            )
            if charge["status"] != "succeeded" or not charge["captured"]:
                raise StripeError(
                    400,
                    "invalid_request_error",
                    "This charge cannot be refunded.",
                    code="charge_not_refundable",
                    param="charge",
                )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                param="charge",
            )
        value = remaining if amount is None else amount
        if value > remaining:
            raise StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({value}) is greater than the unrefunded amount on the charge "
                f"({remaining}).",
                code="amount_too_large",
                param="amount",
            )
        refund: JSON = {
            "id": new_id("re"),
            "object": "refund",
            "amount": value,
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "currency": charge["currency"],
            "created": int(time.time()),
            "metadata": metadata,
            "reason": reason,
            "status": "succeeded",
        }
        payments.save("refunds", ctx.account, refund)
        charge["amount_refunded"] += value
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        payments.save("charges", ctx.account, charge)
        payments.ledger.record(
            "refund",
            account=ctx.account,
            amount=value,
            currency=charge["currency"],
            intent_id=intent["id"],
            charge_id=charge["id"],
            metadata=intent["metadata"],
            idempotency_key=ctx.idempotency_key,
        )
        payments.emit(ctx, "charge.refunded", charge)
        return refund

    return work
