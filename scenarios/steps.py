"""The step vocabulary scenarios are written in.

A step is plain, frozen data: it says *what* a client, a browser tab or the nemesis
does, never *how*. ``harness.interpreter`` turns steps into driver and fault calls
(the split between Jepsen's generator and its interpreter). Names such as ``order``,
``key``, ``user`` and ``tab`` are references local to one scenario run; the interpreter
binds them to real order ids, Idempotency-Keys, sessions and pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from harness.types import Capability

CAPABILITIES: tuple[Capability, ...] = get_args(Capability)


# --- API client steps ---------------------------------------------------------------


@dataclass(frozen=True)
class CreateOrder:
    """Sign in as ``user`` (if needed) and create an order through the API."""

    order: str = "o1"
    user: str = "alice"
    sku: str | None = None
    quantity: int = 1
    needs = ("api",)


@dataclass(frozen=True)
class Confirm:
    """One confirm request for ``order`` with Idempotency-Key ``key``."""

    order: str = "o1"
    key: str | None = "k1"
    """``None`` sends no Idempotency-Key at all."""
    user: str = "alice"
    payment_method: str = "pm_card_visa"
    through_proxy: bool = False
    """Send through the network fault proxy instead of straight to the target."""
    timeout_s: float | None = None
    change: Literal["payment_method", "amount"] | None = None
    """Send a body that differs from the first use of the key: another payment method
    (everything else the same), or a forged ``amount`` field added to the body."""
    patience: int = 0
    """Like a real client, send the same request again after a 409 or 202 answer (waiting
    for its Retry-After, at most 2 s), up to this many more times."""
    manual_capture: bool = False
    """Ask only to authorise (the profile's ``[api.capture] confirm_body``); a ``Capture``
    step takes the money. An answer that reads as authorised is not a success."""
    needs = ("api",)


@dataclass(frozen=True)
class Burst:
    """``n`` confirms for one order released together by a barrier."""

    order: str = "o1"
    n: int = 20
    same_key: bool = True
    user: str = "alice"
    stagger_ms: int = 0
    """Release request ``i`` ``i * stagger_ms`` after the barrier instead of all at once, so
    that later requests straddle the first one's completion."""
    needs = ("api",)


@dataclass(frozen=True)
class ReadOrder:
    """Ask the checkout whether ``order`` is paid (what it *shows*): through the JSON API,
    or from a page when the profile reads orders from pages."""

    order: str = "o1"
    user: str = "alice"
    needs = ("read_order",)


# --- nemesis steps ------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderFault:
    """Arm a fault in the fake provider for the next ``count`` provider calls that move money
    (whichever Stripe call charges; the profile's ``provider.charge_calls`` may narrow it).

    ``hang_after`` holds the answer until the checkout gives up (closes the connection) or
    the profile's ``provider.hold_limit_s`` passes.

    ``at="hosted_page"`` aims it instead at the next ``count`` payments a browser makes on
    the provider's own pages (its hosted Checkout page and 3-D Secure completion, or their
    control calls), whatever the profile's ``charge_calls``; there ``in_flight`` does not
    apply, and ``await_webhook`` (only there) holds the redirect back to the shop until the
    payment's webhook events were delivered, or ``delay_ms`` (default 10 s) passes. A
    ``drop_after`` or ``hang_after`` there charges the customer while the browser never
    comes back to the shop's success URL.

    ``search_lag`` aims at the provider's PaymentIntent search instead: intents created less
    than ``lag_ms`` ago stay out of its results until the fault is cleared (``count`` is
    ignored). It fires only on a checkout that searches; its report says whether it did."""

    mode: Literal[
        "delay",
        "error_before",
        "error_after",
        "drop_after",
        "hang_after",
        "in_flight",
        "await_webhook",
        "search_lag",
    ]
    status: int | None = None
    delay_ms: int = 0
    count: int = 1
    at: Literal["api", "hosted_page"] = "api"
    lag_ms: int = 60_000
    """``search_lag`` only: how long a new intent stays out of search."""
    needs = ("provider_faults",)


@dataclass(frozen=True)
class ClearProviderFaults:
    needs = ("provider_faults",)


@dataclass(frozen=True)
class NetworkFault:
    """Arm a rule in the proxy between the client and the checkout, for the next ``count``
    confirm requests (the profile's own confirm method and path), or capture requests."""

    rule: Literal["drop_response", "delay_response", "duplicate_request"]
    count: int = 1
    delay_ms: int = 0
    on: Literal["confirm", "capture"] = "confirm"
    """Which request the rule waits for: the confirm, or the capture (``[api.capture]``;
    a scenario using it also has a ``Capture`` step, which needs the ``capture``
    capability)."""
    needs = ("network_faults",)


@dataclass(frozen=True)
class KillTarget:
    """SIGKILL the checkout process (no graceful shutdown)."""

    needs = ("process",)


@dataclass(frozen=True)
class RestartTarget:
    needs = ("process",)


@dataclass(frozen=True)
class Reconcile:
    """Let the target's reconcile window pass (or run its reconcile command)."""

    needs = ()


@dataclass(frozen=True)
class Sleep:
    ms: int
    needs = ()


# --- webhook steps ------------------------------------------------------------------


@dataclass(frozen=True)
class ListenWebhooks:
    """Register the target's webhook endpoint at the fake with delivery options."""

    duplicate: int = 1
    shuffle: bool = False
    needs = ("webhooks",)


@dataclass(frozen=True)
class WaitWebhooks:
    """Wait until the fake has delivered every pending event."""

    needs = ("webhooks",)


@dataclass(frozen=True)
class ReplayWebhooks:
    """Resend every event of ``order`` ``times`` more, newest first (out of order)."""

    order: str = "o1"
    times: int = 2
    needs = ("webhooks",)


@dataclass(frozen=True)
class ForgeWebhook:
    """Post a ``payment_intent.succeeded`` for ``order`` that the target must reject."""

    order: str = "o1"
    how: Literal["bad_signature", "stale", "unsigned"] = "bad_signature"
    needs = ("webhooks",)


# --- browser steps ------------------------------------------------------------------


@dataclass(frozen=True)
class BrowserCheckout:
    """In ``tab``, sign in as ``user``, put an item in the cart and reach the confirm page."""

    tab: str = "t1"
    order: str = "o1"
    user: str = "alice"
    spa: bool = False
    javascript: bool = True
    needs = ("browser",)


@dataclass(frozen=True)
class OpenConfirm:
    """Open the confirm page of an existing ``order`` in ``tab`` (a second tab, say)."""

    tab: str = "t2"
    order: str = "o1"
    needs = ("browser",)


@dataclass(frozen=True)
class ClickPay:
    """Click the Pay control ``count`` times, ``interval_ms`` apart."""

    tab: str = "t1"
    count: int = 1
    interval_ms: int = 0
    wait: bool = True
    """Wait for the page to settle (success, failure or in progress) afterwards."""
    needs = ("browser",)


@dataclass(frozen=True)
class Navigate:
    tab: str = "t1"
    action: Literal["back", "forward", "reload"] = "back"
    needs = ("browser",)


@dataclass(frozen=True)
class Offline:
    tab: str = "t1"
    offline: bool = True
    needs = ("browser",)


@dataclass(frozen=True)
class WaitForState:
    """Wait until the page in ``tab`` shows ``state`` (or the timeout passes)."""

    tab: str = "t1"
    state: Literal["success", "confirm", "in_progress", "challenge"] = "success"
    """``challenge``: the fake provider's 3-D Secure page (the order is neither paid nor
    failed while the customer is there)."""
    timeout_ms: int = 10_000
    needs = ("browser",)


@dataclass(frozen=True)
class ChooseCard:
    """On the confirm page in ``tab``, choose the card ``payment_method`` (the fake
    provider's id) with the profile's ``browser.selectors.payment_method``."""

    tab: str = "t1"
    payment_method: str = "pm_card_visa"
    needs = ("browser", "choose_card")


@dataclass(frozen=True)
class Authenticate3DS:
    """Act on the fake provider's 3-D Secure challenge of ``tab``: press Complete or Fail on
    the page the tab shows, then follow the provider back to the checkout.

    ``if_shown``: a tab that shows no challenge is recorded, not an error (a checkout that
    did the right thing may show none). ``late``: the customer left the challenge; it is
    finished now through the provider's control API (a bank app, a forgotten tab), by the
    intent of the challenge this tab last showed."""

    tab: str = "t1"
    outcome: Literal["complete", "fail"] = "complete"
    if_shown: bool = False
    late: bool = False
    needs = ("browser", "threeds")


# --- manual capture steps -------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """Ask the checkout to take the money of an order confirmed with ``manual_capture``
    (the profile's ``[api.capture]``), with Idempotency-Key ``key``."""

    order: str = "o1"
    key: str | None = "c1"
    user: str = "alice"
    through_proxy: bool = False
    """Send through the network fault proxy instead of straight to the target."""
    patience: int = 0
    """Send the same request again after a 409 or 202 answer, up to this many more times."""
    needs = ("capture",)


# --- hosted Checkout steps (the provider's own payment page) -----------------------


@dataclass(frozen=True)
class OpenHostedPage:
    """In ``tab`` (on the confirm page), click the profile's ``browser.hosted.pay`` control
    ``count`` times, ``interval_ms`` apart: the checkout sends the browser to the provider's
    hosted payment page (or, for an order already paid, to what it shows instead)."""

    tab: str = "t1"
    count: int = 1
    interval_ms: int = 0
    once_sent: bool = False
    """Each further click as soon as the click before has sent its POST: both reach the
    checkout (a second click that beats the first form's request replaces it)."""
    needs = ("browser", "hosted_checkout")


@dataclass(frozen=True)
class PayOnHostedPage:
    """On the provider's hosted page in ``tab``, pick ``payment_method`` and click its Pay
    button; the provider redirects to the checkout's success URL (or says "already paid")."""

    tab: str = "t1"
    payment_method: str = "pm_card_visa"
    needs = ("browser", "hosted_checkout")


@dataclass(frozen=True)
class PayHostedOffPage:
    """The customer pays the session shown in ``tab`` on the provider, but the browser never
    follows the redirect back (closed tab, lost network): the checkout learns of it only
    from the webhook, or when the customer comes back."""

    tab: str = "t1"
    payment_method: str = "pm_card_visa"
    needs = ("browser", "hosted_checkout")


@dataclass(frozen=True)
class ReturnFromHostedPage:
    """``tab`` finally loads the redirect that ``PayHostedOffPage`` left unfollowed."""

    tab: str = "t1"
    needs = ("browser", "hosted_checkout")


@dataclass(frozen=True)
class OpenSuccessUnpaid:
    """``tab``, on the provider's page of a session nobody paid, loads the checkout's success
    URL of that session (a bookmark, a shared or edited link): it must not count as paid."""

    tab: str = "t1"
    needs = ("browser", "hosted_checkout")


Step = (
    CreateOrder | Confirm | Burst | ReadOrder
    | ProviderFault | ClearProviderFaults | NetworkFault | KillTarget | RestartTarget
    | Reconcile | Sleep
    | ListenWebhooks | WaitWebhooks | ReplayWebhooks | ForgeWebhook
    | BrowserCheckout | OpenConfirm | ClickPay | Navigate | Offline | WaitForState
    | ChooseCard | Authenticate3DS
    | Capture
    | OpenHostedPage | PayOnHostedPage | PayHostedOffPage | ReturnFromHostedPage
    | OpenSuccessUnpaid
)  # fmt: skip
