"""Hosted-Checkout browser steps: the target's control that leads to the provider's page,
the customer's payment there, and the way back.

The target's side comes from its profile (``[browser.hosted]``: the control and the success
URL); the provider's page from :mod:`harness._fake_hosted_page`. Like every browser step, a
control that is not where the step needs it fails the step (the scenario is an error), and
an expected absence (an order already paid) is recorded as what the tab showed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fake_provider.client import FakeProviderError
from harness import _browsing
from harness import _fake_hosted_page as provider_page
from harness._browsing import _shows, _step_error, _visible, _where
from harness._redact import redact_text
from harness.profile import HostedCheckout
from scenarios import steps as s

if TYPE_CHECKING:
    from harness._browsing import _RunBrowser

LANDING_TIMEOUT_MS = 15_000
"""How long the provider's page, or the target's page after it, may take to show."""


def run_step(run: _RunBrowser, step: Any) -> None:
    if isinstance(step, s.OpenHostedPage):
        open_page(run, step)
    elif isinstance(step, s.PayOnHostedPage):
        pay_on_page(run, step)
    elif isinstance(step, s.PayHostedOffPage):
        pay_off_page(run, step)
    elif isinstance(step, s.ReturnFromHostedPage):
        come_back(run, step)
    elif isinstance(step, s.OpenSuccessUnpaid):
        open_success_unpaid(run, step)
    else:
        raise _step_error(f"no hosted-Checkout handler for {type(step).__name__}")


def _section(run: _RunBrowser) -> HostedCheckout:
    if run.section.hosted is None:
        raise _step_error("hosted-Checkout steps need the profile's [browser.hosted] section")
    return run.section.hosted


def open_page(run: _RunBrowser, step: s.OpenHostedPage) -> None:
    """Click the target's hosted-pay control; the tab must reach the provider's page, or
    (an order already paid) the target's success page."""
    hosted = _section(run)
    driver, tab = run._driver(True), run.tab(step.tab)
    page = driver.page(tab)
    success = run.section.selectors.success
    _shows(page, hosted.pay, success, timeout_ms=_browsing.PRESENT_TIMEOUT_MS)
    if not _visible(page, hosted.pay):
        run._screenshot(driver, tab)
        if _visible(page, success):
            value = {"selector": hosted.pay, "hosted": "open", "expected_state": "already_paid"}
            driver.note("click", value, tab=tab, result={"outcome": "already_paid"})
            return
        raise _step_error(
            f"browser.hosted.pay {hosted.pay!r} matches nothing visible on {_where(page)}"
        )
    driver.click(hosted.pay, count=step.count, delay_ms=step.interval_ms, tab=tab,
                 extra={"hosted": "open"}, once_sent=step.once_sent)  # fmt: skip
    _shows(page, provider_page.PAY_BUTTON, provider_page.FINAL, success,
           timeout_ms=LANDING_TIMEOUT_MS)  # fmt: skip
    session = provider_page.session_id(page.url)
    run._screenshot(driver, tab)
    if session is None and not _visible(page, success):
        raise _step_error(
            f"after clicking browser.hosted.pay {hosted.pay!r} the tab shows {_where(page)}: "
            "neither the provider's hosted page nor the success page "
            "(browser.selectors.success)"
        )
    driver.tag(tab, hosted_session=session)


def pay_on_page(run: _RunBrowser, step: s.PayOnHostedPage) -> None:
    """Pay on the provider's page; the tab must then show the target's success page, or the
    provider's own answer (already paid, declined, expired), which the history records."""
    hosted = _section(run)
    driver, tab = run._driver(True), run.tab(step.tab)
    page = driver.page(tab)
    success = run.section.selectors.success
    if provider_page.session_id(page.url) is None:
        if _visible(page, success):  # the checkout sent the customer to success: nothing to pay
            value = {"hosted": "provider_pay", "expected_state": "already_paid"}
            driver.note("click", value, tab=tab, result={"outcome": "already_paid"})
            return
        run._screenshot(driver, tab)
        raise _step_error(f"no provider hosted page to pay on: the tab shows {_where(page)}")
    present = _browsing.PRESENT_TIMEOUT_MS
    _shows(page, provider_page.PAY_BUTTON, provider_page.FINAL, timeout_ms=present)
    if not _visible(page, provider_page.PAY_BUTTON):
        shown = provider_page.state(page)
        seen: dict[str, Any] = {"hosted": "provider_pay", "provider_state": shown}
        driver.note("provider_page", seen, tab=tab)
        return
    if not _visible(page, provider_page.card(step.payment_method)):
        raise _step_error(f"the provider's page offers no card {step.payment_method!r}")
    page.check(provider_page.card(step.payment_method))
    extra = {"hosted": "provider_pay", "payment_method": step.payment_method}
    driver.click(provider_page.PAY_BUTTON, tab=tab, extra=extra)
    provider_page.left_or_final(page, LANDING_TIMEOUT_MS)
    if not provider_page.session_id(page.url):  # the provider sent the tab to the target
        run.wait_for(step.tab, "success", LANDING_TIMEOUT_MS)
        if not _matches(hosted.success_url_regex, page.url):
            raise _step_error(
                f"after paying on the provider's page the tab shows {_where(page)}, which "
                f"browser.hosted.success_url_regex {hosted.success_url_regex!r} does not match"
            )
        return
    shown = provider_page.state(page)
    driver.note("provider_page", {"hosted": "provider_pay", "provider_state": shown}, tab=tab)
    run._screenshot(driver, tab)


def pay_off_page(run: _RunBrowser, step: s.PayHostedOffPage) -> None:
    """Pay the session of the tab's provider page through the fake's control call (what the
    page's Pay does), and leave the redirect unfollowed: the tab stays where it is."""
    _section(run)
    driver, tab = run._driver(True), run.tab(step.tab)
    page = driver.page(tab)
    session = provider_page.session_id(page.url)
    if session is None:
        raise _step_error(f"no provider hosted page to pay on: the tab shows {_where(page)}")
    history = run.interp.history
    value = {
        **driver.tags(tab),
        "session_id": session,
        "payment_method": step.payment_method,
        "via": "the provider's control call; the browser does not follow the redirect",
    }
    op = history.invoke(tab, "hosted_pay_off_page", value)
    try:
        answer = run.interp.provider.pay_checkout_session(session, step.payment_method)
    except FakeProviderError as exc:
        history.fail(op, {"error": str(exc)})
        raise _step_error(f"the provider refused to take the payment: {exc}") from None
    redirect = answer.get("redirect_url")
    history.ok(op, {
        "provider_outcome": answer.get("outcome"),
        "redirect_url": redact_text(str(redirect)) if redirect else None,
        "redirect_followed": False,
    })  # fmt: skip


def come_back(run: _RunBrowser, step: s.ReturnFromHostedPage) -> None:
    """Load, in the tab, the redirect its ``PayHostedOffPage`` left unfollowed; the target
    must then show its success page."""
    hosted = _section(run)
    driver, tab = run._driver(True), run.tab(step.tab)
    redirect = None
    for op in reversed(run.interp.history.ops):
        if op.process == tab and op.f == "hosted_pay_off_page" and op.type == "ok":
            redirect = op.value.get("redirect_url")
            break
    if not isinstance(redirect, str) or not redirect:
        raise _step_error("ReturnFromHostedPage needs an earlier PayHostedOffPage in this tab")
    if not _matches(hosted.success_url_regex, redirect):
        raise _step_error(
            f"the provider redirects to {redact_text(redirect)}, which "
            f"browser.hosted.success_url_regex {hosted.success_url_regex!r} does not match"
        )
    op = driver.goto(redirect, tab=tab)
    run._opened(driver, tab, op, "the success URL the provider redirects to")
    run.wait_for(step.tab, "success", LANDING_TIMEOUT_MS)


def open_success_unpaid(run: _RunBrowser, step: s.OpenSuccessUnpaid) -> None:
    """Load the success URL of the tab's unpaid session (read from the provider's API with
    the profile's key). What the tab shows is recorded; the checkers judge it."""
    hosted = _section(run)
    driver, tab = run._driver(True), run.tab(step.tab)
    page = driver.page(tab)
    session = provider_page.session_id(page.url)
    if session is None:
        raise _step_error(f"no provider hosted page in the tab: it shows {_where(page)}")
    provider = run.interp.profile.provider
    try:
        url = provider_page.success_url(run.interp.provider.base_url, provider.api_key, session)
    except RuntimeError as exc:
        raise _step_error(str(exc)) from None
    if url is None or not _matches(hosted.success_url_regex, url):
        raise _step_error(
            f"the session's success_url {url!r} does not match browser.hosted."
            f"success_url_regex {hosted.success_url_regex!r}"
        )
    driver.goto(url, tab=tab)
    run._screenshot(driver, tab)


def _matches(pattern: str, url: str) -> bool:
    return re.search(pattern, url) is not None
