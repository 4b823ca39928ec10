"""Browser scenarios: what a person does with Back, Reload, a second tab and a fast finger.

Most are written once and run on both the server-rendered checkout (``ssr``) and the
single-page one (``spa``); a target that has no SPA reports the ``spa`` ones as not
applicable.
"""

from __future__ import annotations

from collections.abc import Callable

from scenarios._model import DEFAULT_INVARIANTS, Scenario
from scenarios.steps import (
    BrowserCheckout,
    ClickPay,
    Navigate,
    OpenConfirm,
    ProviderFault,
    ReadOrder,
    Reconcile,
    Step,
    WaitForState,
)

Steps = Callable[[bool], tuple[Step, ...]]
JS_CLICKS = ("pay_click_sends_one_post",)
"""With JavaScript on, the page guards its Pay button: a burst of clicks sends one POST."""


def _invariants(spa: bool, steps: tuple[Step, ...]) -> tuple[str, ...]:
    chosen = [*DEFAULT_INVARIANTS, "no_store_on_payment_pages"]
    if not spa:
        chosen.append("post_redirect_get")  # a form POST must be answered 303
    moves = [i for i, step in enumerate(steps) if isinstance(step, Navigate)]
    if moves:
        chosen.append("no_repost_on_navigation")
    paid = [i for i, step in enumerate(steps)
            if isinstance(step, WaitForState) and step.state == "success"]  # fmt: skip
    if paid and moves and max(moves) > min(paid):
        chosen.append("no_post_on_success_load")  # Back/Reload from the success page
    return tuple(chosen)


def _variants(
    name: str,
    title: str,
    threat: str,
    steps: Steps,
    *,
    spa: bool = True,
    extra: tuple[str, ...] = (),
) -> tuple[Scenario, ...]:
    flavours = (False, True) if spa else (False,)
    return tuple(
        Scenario(
            id=f"browser.{name}_{'spa' if is_spa else 'ssr'}",
            title=f"{title} ({'single-page' if is_spa else 'server-rendered'})",
            threat=threat,
            steps=steps(is_spa),
            invariants=(*_invariants(is_spa, steps(is_spa)), *extra),
            tags=("browser", "spa" if is_spa else "ssr"),
        )
        for is_spa in flavours
    )


def _brief(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ClickPay(),
        WaitForState(state="success"),
        Navigate(action="back"),
        ClickPay(wait=True),
        Reconcile(),
        ReadOrder(),
    )


def _double_click(spa: bool) -> tuple[Step, ...]:
    return (BrowserCheckout(spa=spa), ClickPay(count=2), WaitForState(), Reconcile(), ReadOrder())


def _rapid_clicks(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ClickPay(count=5, interval_ms=40),
        WaitForState(),
        Reconcile(),
        ReadOrder(),
    )


def _impatient_clicks(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ProviderFault(mode="delay", delay_ms=1_500),
        ClickPay(count=4, interval_ms=250, wait=False),
        WaitForState(timeout_ms=15_000),
        Reconcile(),
        ReadOrder(),
    )


def _reload_success(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ClickPay(),
        WaitForState(),
        Navigate(action="reload"),
        Navigate(action="reload"),
        WaitForState(),
        Reconcile(),
        ReadOrder(),
    )


def _reload_in_flight(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ProviderFault(mode="delay", delay_ms=1_500),
        ClickPay(wait=False),
        Navigate(action="reload"),
        WaitForState(timeout_ms=15_000),
        Reconcile(),
        ReadOrder(),
    )


def _back_forward(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ClickPay(),
        WaitForState(),
        Navigate(action="back"),
        Navigate(action="forward"),
        Navigate(action="back"),
        Navigate(action="back"),
        Navigate(action="forward"),
        Reconcile(),
        ReadOrder(),
    )


def _bfcache(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(spa=spa),
        ClickPay(),
        WaitForState(),
        Navigate(action="back"),
        Navigate(action="forward"),
        Navigate(action="back"),
        ClickPay(wait=True),
        Reconcile(),
        ReadOrder(),
    )


def _two_tabs(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(tab="t1", spa=spa),
        OpenConfirm(tab="t2"),
        ClickPay(tab="t1", wait=False),
        ClickPay(tab="t2", wait=False),
        WaitForState(tab="t1"),
        WaitForState(tab="t2"),
        Reconcile(),
        ReadOrder(),
    )


def _no_js_double_click(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(javascript=False),
        ClickPay(count=2),
        WaitForState(),
        Reconcile(),
        ReadOrder(),
    )


def _no_js_rapid(spa: bool) -> tuple[Step, ...]:
    return (
        BrowserCheckout(javascript=False),
        ClickPay(count=5, interval_ms=40),
        WaitForState(),
        Reconcile(),
        ReadOrder(),
    )


SCENARIOS = (
    *_variants(
        "brief_back_confirm_again",
        "Checkout, confirm, success, Back, confirm again",
        "back-forward",
        _brief,
    ),
    *_variants(
        "double_click", "Double-click on Pay", "double-click", _double_click, extra=JS_CLICKS
    ),
    *_variants(
        "rapid_clicks", "Five rapid clicks on Pay", "double-click", _rapid_clicks, extra=JS_CLICKS
    ),
    *_variants(
        "impatient_clicks",
        "Clicks on Pay again and again while the provider is slow",
        "double-click",
        _impatient_clicks,
        extra=JS_CLICKS,
    ),
    *_variants(
        "double_click_nojs",
        "Double-click on Pay with JavaScript off",
        "double-click",
        _no_js_double_click,
        spa=False,
    ),
    *_variants(
        "rapid_clicks_nojs",
        "Five rapid clicks on Pay with JavaScript off",
        "double-click",
        _no_js_rapid,
        spa=False,
    ),
    *_variants("reload_success", "Reload on the success page", "refresh-resubmit", _reload_success),
    *_variants(
        "reload_in_flight",
        "Reload while the confirm is still in flight",
        "refresh-resubmit",
        _reload_in_flight,
    ),
    *_variants("back_forward", "Back and forward after paying", "back-forward", _back_forward),
    *_variants(
        "bfcache_restore",
        "Back to a page restored from the back-forward cache",
        "back-forward",
        _bfcache,
    ),
    *_variants("two_tabs", "Two tabs confirm the same order", "multiple-tabs", _two_tabs),
)
