"""The fake provider's hosted Checkout page, as a customer's browser sees it.

This page is the provider's, not the target's: ``fake_provider/_checkout_page.py`` marks its
controls for tests, and this module is the one place in the harness that knows them. A
target's own controls and pages come from its profile (``[browser.hosted]``).
"""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness._tls import tls_context

PAGE_URL = re.compile(r"/c/pay/(?P<session_id>cs_[A-Za-z0-9_]+)(?:[?#].*)?$")
"""The hosted page of one Checkout Session: ``<fake>/c/pay/{id}``."""
PAY_BUTTON = "form#pay button#pay-button"
"""The Pay button of an open session's page."""
FINAL = ", ".join(
    f'main[data-state="{state}"]' for state in ("paid", "already_paid", "declined", "expired")
)
"""What the page shows once the customer can no longer pay on it (or was declined)."""


def session_id(url: str) -> str | None:
    """The Checkout Session id of the hosted page at ``url``, or None if it is not one."""
    match = PAGE_URL.search(url)
    return match.group("session_id") if match else None


def left_or_final(page: Page, timeout_ms: float) -> bool:
    """Wait up to ``timeout_ms`` until the tab has left this page for another one and that
    one has loaded, or this page shows a final state. True if either happened.

    Waiting for the target's success page instead would wait out the whole timeout on a
    target that shows anything else; this returns as soon as the target has answered, and
    the caller decides how long to watch for success."""
    deadline = time.monotonic() + timeout_ms / 1000
    final = page.locator(FINAL).filter(visible=True)
    while (left := deadline - time.monotonic()) > 0:
        try:
            if session_id(page.url) is None:
                page.wait_for_load_state("load", timeout=left * 1000)
                return True
            if final.count() > 0:
                return True
            page.wait_for_timeout(50)
        except PlaywrightTimeout:  # the new page did not finish loading in time
            return False
        except PlaywrightError:  # a navigation under way, or the tab is gone
            if page.is_closed():
                return False
            time.sleep(0.05)
    return False


def card(payment_method: str) -> str:
    """The radio button of a test card (``pm_card_visa``, ...) on the page."""
    return f'form#pay input[name=payment_method][value="{payment_method}"]'


def state(page: Page) -> str | None:
    """What the page says: ``open``, ``paid``, ``already_paid``, ``declined`` or ``expired``."""
    try:
        found = page.locator("main[data-state]").first.get_attribute("data-state", timeout=500)
    except PlaywrightError:
        return None
    return found


def success_url(provider_url: str, api_key: str, session_id: str) -> str | None:
    """The session's ``success_url`` with its id filled in, as the provider redirects to it
    (``GET /v1/checkout/sessions/{id}``). Raises RuntimeError when the provider cannot say."""
    try:
        response = httpx.get(
            f"{provider_url.rstrip('/')}/v1/checkout/sessions/{session_id}",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
            verify=tls_context(),
        )
    except httpx.HTTPError as exc:
        raise RuntimeError(f"cannot read Checkout Session {session_id}: {exc}") from None
    if response.status_code != 200:
        raise RuntimeError(
            f"reading Checkout Session {session_id} answered HTTP {response.status_code}"
        )
    template = response.json().get("success_url")
    return template.replace("{CHECKOUT_SESSION_ID}", session_id) if template else None
