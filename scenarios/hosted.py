"""Hosted Checkout: the customer pays on the provider's own page (Stripe Checkout).

Every click on the checkout's "pay on the provider's page" control may make a new Checkout
Session; each session the customer reaches can be paid. So two tabs, a double click, or
Back and a second click must all land on one payable session, and the order must be
fulfilled once, whether the provider's ``checkout.session.completed`` webhook or the
customer's redirect to the success URL comes first, or only one of them ever comes.
"""

from __future__ import annotations

from scenarios._model import DEFAULT_INVARIANTS, Scenario
from scenarios.steps import (
    BrowserCheckout,
    ListenWebhooks,
    Navigate,
    OpenConfirm,
    OpenHostedPage,
    OpenSuccessUnpaid,
    PayHostedOffPage,
    PayOnHostedPage,
    ProviderFault,
    ReadOrder,
    Reconcile,
    ReplayWebhooks,
    Step,
    WaitForState,
    WaitWebhooks,
)

PAGES = ("no_store_on_payment_pages",)
"""The target's confirm and success pages of a hosted payment are payment pages too."""
MOVES = ("no_repost_on_navigation", "no_post_on_success_load")
TAGS = ("browser", "hosted")


def _hosted(
    name: str,
    title: str,
    threat: str,
    steps: tuple[Step, ...],
    extra: tuple[str, ...] = (),
    *,
    pays: bool = True,
) -> Scenario:
    """A hosted-Checkout scenario: the money invariants, the payment pages' ``no-store``, and
    ``webhooks_accepted`` when the provider's events are delivered."""
    webhooks = any(isinstance(step, ListenWebhooks) for step in steps)
    return Scenario(
        id=f"hosted.{name}",
        title=title,
        threat=threat,
        steps=steps,
        invariants=(
            *DEFAULT_INVARIANTS,
            *PAGES,
            *extra,
            *(("webhooks_accepted",) if webhooks else ()),
        ),
        tags=(*TAGS, *(("webhooks",) if webhooks else ())),
        pays=pays,
    )


SCENARIOS = (
    _hosted(
        "double_click",
        "Double-click on the control that opens the provider's hosted page, then pay",
        "hosted-double-click",
        (
            BrowserCheckout(),
            OpenHostedPage(count=2, once_sent=True),
            PayOnHostedPage(),
            Reconcile(),
            ReadOrder(),
        ),
    ),
    _hosted(
        "two_tabs",
        "Two tabs each open the hosted page of one order and pay there",
        "hosted-two-tabs",
        (
            BrowserCheckout(tab="t1"),
            OpenConfirm(tab="t2"),
            OpenHostedPage(tab="t1"),
            OpenHostedPage(tab="t2"),
            PayOnHostedPage(tab="t1"),
            PayOnHostedPage(tab="t2"),
            Reconcile(),
            ReadOrder(),
        ),
    ),
    _hosted(
        "back_and_pay_again",
        "Pay on the hosted page, go Back before the redirect reaches the shop, and click "
        "the hosted control again",
        "hosted-back",
        (
            BrowserCheckout(),
            OpenHostedPage(),
            PayHostedOffPage(),
            Navigate(action="back"),
            OpenHostedPage(),
            PayOnHostedPage(),
            Reconcile(),
            ReadOrder(),
        ),
        ("no_repost_on_navigation",),
    ),
    _hosted(
        "reload_success",
        "Reload the success page the provider redirected to, twice",
        "hosted-success-reload",
        (
            BrowserCheckout(),
            OpenHostedPage(),
            PayOnHostedPage(),
            Navigate(action="reload"),
            Navigate(action="reload"),
            WaitForState(state="success"),
            Reconcile(),
            ReadOrder(),
        ),
        MOVES,
    ),
    _hosted(
        "webhook_before_redirect",
        "checkout.session.completed arrives before the customer's redirect",
        "hosted-fulfilment-order",
        (
            ListenWebhooks(),
            BrowserCheckout(),
            OpenHostedPage(),
            # the fake sends the redirect only once the shop acknowledged the payment's events
            ProviderFault(mode="await_webhook", at="hosted_page"),
            PayOnHostedPage(),
            Navigate(action="reload"),
            Reconcile(),
            ReadOrder(),
        ),
        MOVES,
    ),
    _hosted(
        "webhook_after_redirect",
        "checkout.session.completed arrives after the redirect fulfilled the order",
        "hosted-fulfilment-order",
        (
            BrowserCheckout(),
            OpenHostedPage(),
            PayOnHostedPage(),
            ReadOrder(),  # fulfilled by the redirect, before any event was delivered
            ListenWebhooks(),
            ReplayWebhooks(times=1),
            WaitWebhooks(),
            Reconcile(),
            ReadOrder(),
        ),
    ),
    _hosted(
        "redirect_never_comes",
        "The customer pays on the hosted page and never comes back: only the webhook "
        "tells the checkout",
        "hosted-fulfilment-order",
        (
            ListenWebhooks(),
            BrowserCheckout(),
            OpenHostedPage(),
            PayHostedOffPage(),
            WaitWebhooks(),
            Reconcile(),
            ReadOrder(),
        ),
    ),
    _hosted(
        "success_url_unpaid",
        "The success URL of a session nobody paid is loaded (a bookmark, an edited link)",
        "hosted-success-reload",
        (
            BrowserCheckout(),
            OpenHostedPage(),
            OpenSuccessUnpaid(),
            Reconcile(),
            ReadOrder(),
        ),
        pays=False,
    ),
)
