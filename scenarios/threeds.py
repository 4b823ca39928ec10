"""3-D Secure scenarios: a card that asks the customer to authenticate, and what people
do around the challenge (Back, Reload, a second tab, giving up and paying with another
card, finishing the old challenge afterwards, finishing it without coming back before
paying again). In the stories where a completed challenge must be noticed (the return
then Back, the completion without a return) the provider's search lags, so only a checkout
that reads the intent it holds learns of it in time (a search finds nothing yet).

The card is the fake provider's ``pm_card_threeDSecure2Required``; the challenge is the
fake's page. Each story ends with the order paid once: the default invariants judge it
(``at_most_one_charge`` above all), and a tab waiting at the challenge counts as neither
paid nor failed.
"""

from __future__ import annotations

from collections.abc import Callable

from scenarios._model import DEFAULT_INVARIANTS, Scenario
from scenarios.steps import (
    Authenticate3DS,
    BrowserCheckout,
    ChooseCard,
    ClearProviderFaults,
    ClickPay,
    Navigate,
    OpenConfirm,
    ProviderFault,
    ReadOrder,
    Reconcile,
    Step,
    WaitForState,
)

CARD = "pm_card_threeDSecure2Required"
"""The fake provider's card that always asks for 3-D Secure."""
OTHER_CARD = "pm_card_visa"

Steps = Callable[[bool], tuple[Step, ...]]


def _to_challenge(spa: bool) -> tuple[BrowserCheckout, *tuple[Step, ...]]:
    return (
        BrowserCheckout(spa=spa),
        ChooseCard(payment_method=CARD),
        ClickPay(wait=False),
        WaitForState(state="challenge", timeout_ms=8_000),
    )


def _search_lagging(checkout: BrowserCheckout, *story: Step) -> tuple[Step, ...]:
    """The story while the provider's search lags (Stripe documents up to a minute), then
    the reconcile window with search current again. Only the checkout's own read of the
    intent it holds (its return page, its next Pay) can learn of a completed challenge in
    time: nothing that finds payments by searching (a reconciler) settles it first, which
    would otherwise decide the story by a race. The lag is armed once ``checkout`` made the
    order, before anything is paid: it then hides this order's intents only, and the run
    may go on beside others (``harness._schedule.scoped``)."""
    return (
        checkout,
        ProviderFault(mode="search_lag", lag_ms=60_000),
        *story,
        ClearProviderFaults(),
        Reconcile(),
        ReadOrder(),
    )


def _return_then_back(spa: bool) -> tuple[Step, ...]:
    return _search_lagging(
        *_to_challenge(spa),
        Authenticate3DS(),
        WaitForState(state="success", timeout_ms=5_000),
        Navigate(action="back"),  # to the challenge page, already completed
        Authenticate3DS(if_shown=True),  # Complete pressed again: back to the return page
        Navigate(action="reload"),
        OpenConfirm(tab="t2"),  # the order's confirm page again, and Pay
        ClickPay(tab="t2"),
    )


def _two_tabs(spa: bool) -> tuple[Step, ...]:
    return (
        *_to_challenge(spa),
        OpenConfirm(tab="t2"),  # tab 1 waits at the challenge; tab 2 pays with its card
        ClickPay(tab="t2"),
        Authenticate3DS(),  # tab 1 completes its challenge afterwards
        WaitForState(state="success", timeout_ms=8_000),
        Reconcile(),
        ReadOrder(),
    )


def _abandoned_new_card(spa: bool) -> tuple[Step, ...]:
    return (
        *_to_challenge(spa),
        Navigate(action="back"),  # gives up on the challenge
        ChooseCard(payment_method=OTHER_CARD),
        ClickPay(),
        Authenticate3DS(late=True),  # the old challenge is completed afterwards
        Reconcile(),
        ReadOrder(),
    )


def _late_then_new_card(spa: bool) -> tuple[Step, ...]:
    return _search_lagging(
        *_to_challenge(spa),
        OpenConfirm(tab="t2"),  # another tab, another card, ready to pay
        ChooseCard(tab="t2", payment_method=OTHER_CARD),
        Authenticate3DS(late=True),  # tab 1's challenge completed (a bank app), no return
        ClickPay(tab="t2"),  # at once: before anything else has read the intent
        OpenConfirm(tab="t3"),  # told "declined", a customer would pay once more
        ClickPay(tab="t3"),
    )


def _scenario(name: str, title: str, steps: Steps, spa: bool) -> Scenario:
    chosen = [*DEFAULT_INVARIANTS, "no_store_on_payment_pages"]
    if any(isinstance(step, Navigate) for step in steps(spa)):
        chosen.append("no_repost_on_navigation")
    if not spa:
        chosen.append("post_redirect_get")
    flavour = "spa" if spa else "ssr"
    return Scenario(
        id=f"threeds.{name}_{flavour}",
        title=f"{title} ({'single-page' if spa else 'server-rendered'})",
        threat=f"threeds-{name.replace('_', '-')}",
        steps=steps(spa),
        invariants=tuple(chosen),
        tags=("browser", "threeds", flavour),
    )


SCENARIOS: tuple[Scenario, ...] = (
    _scenario(
        "return_then_back",
        "3-D Secure completed, then Back to the challenge, Reload and Pay again",
        _return_then_back,
        spa=False,
    ),
    _scenario(
        "return_then_back",
        "3-D Secure completed, then Back to the challenge, Reload and Pay again",
        _return_then_back,
        spa=True,
    ),
    _scenario(
        "two_tabs", "Tab 1 at the challenge, tab 2 pays, then tab 1 completes", _two_tabs, False
    ),
    _scenario(
        "two_tabs", "Tab 1 at the challenge, tab 2 pays, then tab 1 completes", _two_tabs, True
    ),
    _scenario(
        "abandoned_new_card",
        "Challenge abandoned, paid with another card, old challenge completed later",
        _abandoned_new_card,
        spa=False,
    ),
    _scenario(
        "abandoned_new_card",
        "Challenge abandoned, paid with another card, old challenge completed later",
        _abandoned_new_card,
        spa=True,
    ),
    _scenario(
        "late_then_new_card",
        "Challenge completed without coming back, then another tab pays with another card",
        _late_then_new_card,
        spa=False,
    ),
    _scenario(
        "late_then_new_card",
        "Challenge completed without coming back, then another tab pays with another card",
        _late_then_new_card,
        spa=True,
    ),
)
