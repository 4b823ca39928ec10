"""The test payment methods the fake knows, and what confirming with each one does.

The names and outcomes follow Stripe's testing documentation ("Declined payments",
"3D Secure authentication"): a card either succeeds, is declined with an error ``code``
(and, where Stripe documents one, a ``decline_code``), or always asks the customer to
authenticate (3-D Secure) before it is charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["succeed", "decline", "authenticate"]


@dataclass(frozen=True)
class Card:
    outcome: Outcome
    code: str | None = None
    """The error's ``code`` on a decline (``card_declined``, ``expired_card``, …)."""
    decline_code: str | None = None
    """Stripe's ``decline_code``; ``None`` where Stripe's testing table says n/a."""
    message: str | None = None
    param: str | None = None
    """The error's ``param``; ``payment_method`` unless the card's detail is at fault."""


_OK = Card("succeed")
_3DS = Card("authenticate")
_DECLINED = "Your card was declined."


def _declined(decline_code: str, message: str = _DECLINED) -> Card:
    return Card("decline", "card_declined", decline_code, message)


_GENERIC = _declined("generic_decline")
_FUNDS = _declined("insufficient_funds", "Your card has insufficient funds.")
_LOST = _declined("lost_card")
_STOLEN = _declined("stolen_card")
_FRAUD = _declined("fraudulent")
_VELOCITY = _declined(
    "card_velocity_exceeded", "Your card has exceeded its velocity limit for this period."
)

CARDS: dict[str, Card] = {
    "pm_card_visa": _OK,
    "pm_card_mastercard": _OK,
    "pm_card_amex": _OK,
    "pm_card_visa_debit": _OK,
    "pm_card_chargeDeclined": _GENERIC,
    "pm_card_visa_chargeDeclined": _GENERIC,
    "pm_card_chargeDeclinedInsufficientFunds": _FUNDS,
    "pm_card_visa_chargeDeclinedInsufficientFunds": _FUNDS,
    "pm_card_chargeDeclinedLostCard": _LOST,
    "pm_card_visa_chargeDeclinedLostCard": _LOST,
    "pm_card_chargeDeclinedStolenCard": _STOLEN,
    "pm_card_visa_chargeDeclinedStolenCard": _STOLEN,
    "pm_card_chargeDeclinedFraudulent": _FRAUD,
    "pm_card_visa_chargeDeclinedVelocityLimitExceeded": _VELOCITY,
    "pm_card_chargeDeclinedExpiredCard": Card(
        "decline", "expired_card", None, "Your card has expired.", "exp_month"
    ),
    "pm_card_chargeDeclinedIncorrectCvc": Card(
        "decline", "incorrect_cvc", None, "Your card's security code is incorrect.", "cvc"
    ),
    "pm_card_chargeDeclinedProcessingError": Card(
        "decline",
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    # Stripe documents each of these as "always authenticate": every on-session payment
    # asks for 3-D Secure and succeeds once the customer completes it.
    "pm_card_threeDSecure2Required": _3DS,
    "pm_card_threeDSecureRequired": _3DS,
    "pm_card_authenticationRequired": _3DS,
}
