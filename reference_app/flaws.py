"""Deliberate flaws: each removes exactly one guard, so the harness can be shown to fail.

``NODOUBLE_FLAW=<name>`` (``nodouble serve --flaw <name>``) switches one on; the default
is none. Every flaw lives in one place in the code, marked ``# FLAW(<name>): ...`` next to
an ``if flaws.active(settings, "<name>"):``; ``grep -rn "FLAW(" reference_app`` lists them.
A flaw is never announced to the harness: it is caught by its consequences (the ledger,
the answers, the pages), never by reading a flag. The app only says so in its log (a
loud warning at startup) and in ``GET /healthz`` so that a person reading a report or a
dashboard can tell a seeded run from a real one.

``racy``: the flaw only shows when requests interleave, so a scenario catches it with some
probability per run; ``nodouble flaws`` repeats the scenarios that catch it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Flaw:
    name: str
    guard: str
    """One line: the guard this flaw removes."""
    where: str
    """``file:function`` where the flaw lives."""
    racy: bool = False


class _HasFlaw(Protocol):
    @property
    def flaw(self) -> str: ...


FLAWS: dict[str, Flaw] = {
    flaw.name: flaw
    for flaw in (
        Flaw(
            "no_idempotency",
            "the Idempotency-Key is ignored: every confirm is a new request (no replay, no "
            "fingerprint check, a missing key is accepted)",
            "reference_app/service.py:CheckoutService.confirm",
        ),
        Flaw(
            "check_then_insert",
            "the key and the order are looked up outside the write lock (a plain read pool) and "
            "the key and payment inserted in a later transaction, with no unique guard",
            "reference_app/checkout.py:Checkout._check_then_insert",
            racy=True,
        ),
        Flaw(
            "no_business_key_guard",
            "dedupes by client key only: no per-order guard, and a live payment of the "
            "order is cancelled to make room instead of being reused",
            "reference_app/checkout.py:Checkout._claim",
            racy=True,
        ),
        Flaw(
            "no_provider_key",
            "the provider is called without an idempotency key, so our retries charge anew",
            "reference_app/provider.py:ProviderClient._post_with_retries",
        ),
        Flaw(
            "charge_before_record",
            "the provider is called before the payment row (and its provider key) is "
            "committed; a crash in between leaves a charge nobody recorded",
            "reference_app/checkout.py:Checkout._claim",
        ),
        Flaw(
            "lock_across_call_released_early",
            "the key's lease ends when the claim commits instead of after the provider call, "
            "and a request finding the key free restarts the attempt with a new provider key",
            "reference_app/checkout.py:Checkout._claim",
        ),
        Flaw(
            "no_reconcile",
            "no reconciler: a payment left PENDING by a crash after the charge is never settled",
            "reference_app/app.py:create_app",
        ),
        Flaw(
            "release_on_error",
            "an unknown provider outcome deletes the key and gives up the payment, so the "
            "client's retry with the same key charges again",
            "reference_app/checkout.py:Checkout._finish",
        ),
        Flaw(
            "store_provider_error",
            "a provider 5xx (money may have moved) is stored as a final decline",
            "reference_app/checkout.py:Checkout._finish",
        ),
        Flaw(
            "no_prg",
            "the confirm form POST renders the success page directly instead of a 303",
            "reference_app/pages.py:confirm_submit",
        ),
        Flaw(
            "no_button_guard",
            "the Pay button stays enabled and every click submits the form again",
            "reference_app/pages.py:confirm_page",
        ),
        Flaw(
            "cacheable_pages",
            "checkout pages are sent Cache-Control: private, max-age=600 instead of no-store",
            "reference_app/pages.py:_render",
        ),
        Flaw(
            "webhook_no_dedupe",
            "provider events are not deduplicated by event id: a plain INSERT, so a "
            "redelivered event fails with 500 and the provider keeps retrying it",
            "reference_app/webhooks.py:handle",
        ),
        Flaw(
            "webhook_no_signature",
            "the Stripe-Signature of provider events is not verified",
            "reference_app/api.py:provider_webhook",
        ),
        Flaw(
            "key_not_user_scoped",
            "a finished Idempotency-Key is looked up without its user, so one user's key "
            "replays another user's answer",
            "reference_app/checkout.py:Checkout._claim",
        ),
        Flaw(
            "trust_client_amount",
            "the amount in the confirm request is charged instead of the order's amount",
            "reference_app/checkout.py:Checkout._claim",
        ),
        Flaw(
            "threeds_return_confirms",
            "the 3-D Secure return page confirms the intent again instead of reading it; "
            "the provider's refusal (already succeeded) is stored as a decline",
            "reference_app/threeds.py:settle_return",
        ),
        Flaw(
            "threeds_new_intent_per_attempt",
            "a Pay on an order whose payment awaits 3-D Secure drops that payment and makes a "
            "new intent instead of confirming the same one again",
            "reference_app/checkout.py:Checkout._claim",
        ),
        Flaw(
            "capture_error_is_final",
            "a capture whose provider answer was lost or a 5xx is stored as failed: the "
            "payment is closed and the customer told 'not charged' though the money was taken",
            "reference_app/capture.py:Capturer._finish",
        ),
        Flaw(
            "search_before_charge",
            "the per-order guard is a provider search for an intent tagged with the order "
            "instead of the checkout's own live payment; search lags, so a retry charges again",
            "reference_app/checkout.py:Checkout._claim",
        ),
        Flaw(
            "hosted_session_per_click",
            "every click on the hosted-Checkout control creates a new Checkout Session (no "
            "reuse of the order's open one), so two tabs or Back-and-click can each pay",
            "reference_app/hosted.py:HostedCheckout._claim",
        ),
        Flaw(
            "hosted_redirect_only",
            "only the success redirect fulfils a hosted payment: checkout.session.completed "
            "is ignored, so a customer who never comes back is charged and shown unpaid",
            "reference_app/hosted.py:apply_event",
        ),
        Flaw(
            "hosted_success_unverified",
            "the success URL fulfils any session of the order it names without asking the "
            "provider whether it was paid: loading it unpaid marks the order paid",
            "reference_app/hosted.py:HostedCheckout.on_return",
        ),
        Flaw(
            "capture_answer_not_stored",
            "a capture keeps no answer under the client's Idempotency-Key: the retry of a "
            "capture whose answer was lost finds the payment captured and is refused "
            "'nothing to capture' though the customer was charged",
            "reference_app/capture.py:Capturer.capture",
        ),
        Flaw(
            "hosted_first_session_only",
            "a click that finds the order's open Checkout Session makes a new one anyway, but "
            "the order keeps only its first: the new one can still be paid, and is never "
            "fulfilled",
            "reference_app/hosted.py:HostedCheckout.start",
        ),
        Flaw(
            "hosted_fulfil_not_once",
            "the second arrival of the same paid session is taken for a second payment: the "
            "order is put on hold (payment voided, order open) though it was charged once",
            "reference_app/hosted.py:fulfil_in",
        ),
    )
}
"""Every flaw, by name, in the order ``nodouble flaws`` runs them."""

OFF = frozenset({"", "none"})


def names() -> list[str]:
    return list(FLAWS)


def active(settings: _HasFlaw | str, name: str) -> bool:
    """True if flaw ``name`` is switched on (``settings`` or the flaw setting itself)."""
    if name not in FLAWS:
        raise KeyError(f"no flaw named {name!r}")
    current = settings if isinstance(settings, str) else settings.flaw
    return current == name


def warn_if_active(settings: _HasFlaw) -> None:
    """Log the loud warning a flawed checkout owes its operator."""
    if settings.flaw in OFF:
        return
    flaw = FLAWS[settings.flaw]
    line = "!" * 78
    log = logging.getLogger("reference_app")
    log.warning(line)
    log.warning("DELIBERATE FLAW ON: NODOUBLE_FLAW=%s: this checkout CAN CHARGE TWICE", flaw.name)
    log.warning("removed guard: %s (%s)", flaw.guard, flaw.where)
    log.warning("never run it with real money; unset NODOUBLE_FLAW for the real checkout")
    log.warning(line)
