"""Browser steps for 3-D Secure: choose a card, act on the fake provider's challenge.

The challenge page is the fake provider's own (``GET /3ds/{intent_id}`` with a Complete
and a Fail button, docs/provider.md), so the harness knows it without the profile; what it
needs from the target is how to choose a card (``browser.selectors.payment_method``) and
that the target does 3-D Secure (``[browser.threeds]``).

Every action is an operation in the history: the click on the provider's button (tagged
with the tab's order, the intent and the outcome asked), or, for a challenge finished out
of band (``late``), an ``authenticate_3ds`` operation carrying the provider's answer
(``changed`` false: it no longer waited, nothing happened). A challenge the step needs
and does not find, or a provider that does not send the customer back to the checkout,
fails the step: the scenario is an error, never passed.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from playwright.sync_api import Page

from harness.profile import render
from scenarios import steps as s

if TYPE_CHECKING:
    from harness._browsing import _RunBrowser

CHALLENGE_PATH = "/3ds/"
BUTTONS = {"complete": "button#complete", "fail": "button#fail"}
SHOW_TIMEOUT_S = 5.0
"""How long a tab may take to reach the challenge (a 303 or a script's navigation)."""
IF_SHOWN_TIMEOUT_S = 1.5
RETURN_TIMEOUT_S = 10.0
"""How long the provider may take to send the customer back to the checkout."""


def challenge_marker(provider_url: str) -> str:
    """The driver marker (``url:<regex>``) of a tab on the fake's challenge page."""
    return "url:^" + re.escape(provider_url.rstrip("/") + CHALLENGE_PATH)


def challenge_intent(provider_url: str, url: str) -> str | None:
    """The intent id of the challenge page ``url`` shows, if it is one."""
    prefix = provider_url.rstrip("/") + CHALLENGE_PATH
    if not url.startswith(prefix):
        return None
    return url[len(prefix) :].split("?", 1)[0].split("#", 1)[0] or None


def choose_card(run: _RunBrowser, step: s.ChooseCard) -> None:
    template = run.section.selectors.payment_method
    if template is None:
        raise _error("ChooseCard needs browser.selectors.payment_method in the profile")
    driver, tab = run._driver(True), run.tab(step.tab)
    selector = render(template, {"payment_method": step.payment_method})
    run._click(driver, tab, selector, "payment_method")


def authenticate(run: _RunBrowser, step: s.Authenticate3DS) -> None:
    driver, tab = run._driver(True), run.tab(step.tab)
    provider_url = run.interp.target.provider_url
    page = driver.page(tab)
    if step.late:
        _late(run, step, tab)
        return
    timeout = IF_SHOWN_TIMEOUT_S if step.if_shown else SHOW_TIMEOUT_S
    intent = _wait_challenge(page, provider_url, timeout)
    if intent is None:
        if step.if_shown:
            value = {"outcome_asked": step.outcome, "challenge": None}
            driver.note("authenticate_3ds", value, tab=tab, result={"shown": False})
            return
        run._screenshot(driver, tab)
        raise _error(
            f"no 3-D Secure challenge in {step.tab}: it shows {page.url}, not the provider's "
            f"page {provider_url.rstrip('/')}{CHALLENGE_PATH}<intent>. Does the checkout send "
            "a customer whose card asks for 3-D Secure to next_action.redirect_to_url?"
        )
    run.challenges[tab] = intent
    extra = {"challenge": intent, "outcome_asked": step.outcome}
    driver.click(BUTTONS[step.outcome], tab=tab, extra=extra)
    deadline = time.monotonic() + RETURN_TIMEOUT_S
    while not run._on_site(page.url):
        if time.monotonic() > deadline:
            run._screenshot(driver, tab)
            raise _error(
                f"after {step.outcome} on the challenge of {intent} the provider did not send "
                f"the customer back to the checkout (the tab shows {page.url}): did the "
                "checkout confirm with a return_url?"
            )
        page.wait_for_timeout(100)
    page.wait_for_load_state("load")
    run._screenshot(driver, tab)


def remember(run: _RunBrowser, tab: str) -> None:
    """Note the challenge a tab shows now (for a ``late`` finish)."""
    intent = challenge_intent(run.interp.target.provider_url, run._driver(True).page(tab).url)
    if intent is not None:
        run.challenges[tab] = intent


def _late(run: _RunBrowser, step: s.Authenticate3DS, tab: str) -> None:
    intent = run.challenges.get(tab)
    if intent is None:
        raise _error(f"no challenge was seen in {step.tab} to finish late")
    history = run.interp.history
    tags = run._driver(True).tags(tab)
    op = history.invoke(
        tab, "authenticate_3ds", {**tags, "challenge": intent, "outcome_asked": step.outcome,
                                  "via": "provider control API"},
    )  # fmt: skip
    done = run.interp.provider.finish_3ds(intent, step.outcome)
    state = done.get("intent") or {}
    history.ok(
        op, {"changed": done.get("changed"), "redirect_status": done.get("redirect_status"),
             "intent_status": state.get("status")},
    )  # fmt: skip


def _wait_challenge(page: Page, provider_url: str, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    while True:
        intent = challenge_intent(provider_url, page.url)
        if intent is not None:
            page.wait_for_load_state("load")
            return intent
        if time.monotonic() > deadline:
            return None
        page.wait_for_timeout(100)


def _error(message: str) -> RuntimeError:
    from harness.interpreter import StepError

    return StepError(message)
