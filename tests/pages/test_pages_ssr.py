"""The server-rendered checkout in a real Chromium: whatever the user does, one charge.

Each test asserts both halves: the provider's ledger shows exactly one charge for the order
AND the page shows the true state (success, never a live Pay button after paying).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from .conftest import RequestLog, Stack, new_user

pytestmark = pytest.mark.browser

SUCCESS = "[data-testid=success]"
DELAY = {"endpoint": "POST /v1/payment_intents", "mode": "delay", "count": 1}


def open_confirm_page(page: Any, sku: str = "tee-black") -> str:
    """Shop -> Buy -> the confirm page (through POST /checkout and its 303)."""
    page.goto("/shop")
    page.click(f"[data-testid=buy-{sku}]")
    page.wait_for_url("**/checkout/ord_*")
    page.wait_for_selector("#pay")
    order_id: str = page.url.rsplit("/", 1)[1]
    return order_id


def pay_and_wait(page: Any) -> None:
    page.click("#pay")
    page.wait_for_selector(SUCCESS)


def assert_success(page: Any, order_id: str) -> None:
    page.wait_for_selector(SUCCESS)
    assert page.locator(SUCCESS).get_attribute("data-order-id") == order_id
    assert page.locator("#pay").count() == 0


def test_ssr_checkout_confirm_success_back_lands_on_success(live: Stack, new_context: Any) -> None:
    """The brief's scenario: checkout, confirm, success, Back, confirm again: one charge."""
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_confirm_page(page)
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.request.method == "POST" else None,
    )
    pay_and_wait(page)
    assert statuses == [303], "the confirm POST answers 303 See Other"
    assert_success(page, order_id)

    mark = log.mark()
    page.go_back()  # back to the confirm page's history entry
    assert_success(page, order_id)  # ... which now redirects to success
    assert page.url.endswith(f"/success?orderId={order_id}")
    page.goto(f"/checkout/{order_id}")  # typing the confirm URL again: same
    assert_success(page, order_id)
    assert log.posts(mark) == []
    assert live.charges(order_id) == 1


def test_ssr_reload_on_success_page_never_posts(live: Stack, new_context: Any) -> None:
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_confirm_page(page)
    pay_and_wait(page)
    mark = log.mark()
    for _ in range(2):
        page.reload()
        assert_success(page, order_id)
    assert log.posts(mark) == [], "PRG: the success page is a GET, Reload cannot re-POST"
    assert live.charges(order_id) == 1


@pytest.mark.slow
def test_ssr_reload_while_confirm_in_flight(live: Stack, new_context: Any) -> None:
    """Reload while the provider is slow: the reload is a GET; the in-flight POST finishes."""
    live.fault(**DELAY, delay_ms=1000)
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_confirm_page(page)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/confirm")):
        page.click("#pay", no_wait_after=True)
    time.sleep(0.4)  # the server has claimed the key and is waiting for the provider
    mark = log.mark()
    try:
        page.reload()
    except PlaywrightError as exc:  # Playwright reports the POST navigation it cancelled
        assert "ERR_ABORTED" in str(exc), exc
    page.wait_for_selector(SUCCESS, timeout=20_000)  # via the progress page, GET only
    assert_success(page, order_id)
    after = [(r.method, r.url.removeprefix(live.url)) for r in log.requests[mark:]]
    assert ("GET", f"/checkout/{order_id}") in after, after
    assert ("GET", f"/checkout/{order_id}/progress") in after, after
    assert log.posts(mark) == [], "reload must not re-POST the confirm form"
    assert live.charges(order_id) == 1


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("clicks", [2, 5])
def test_ssr_rapid_clicks_on_pay(
    live: Stack, new_context: Any, javascript: bool, clicks: int
) -> None:
    """Double click and five rapid clicks; with JavaScript off the server dedupes."""
    live.fault(**DELAY, delay_ms=800)
    page = new_context(new_user(), javascript=javascript).new_page()
    log = RequestLog(page)
    order_id = open_confirm_page(page)
    box = page.locator("#pay").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # Raw mouse clicks: no waiting for the button to be enabled. The first POST is let out
    # before the others (a browser coalesces submits that are not yet on the wire), and the
    # provider is slow, so every later click lands while the first confirm is in flight.
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/confirm")):
        page.mouse.click(x, y)
    for _ in range(clicks - 1):
        page.wait_for_timeout(40)
        page.mouse.click(x, y)
    page.wait_for_selector(SUCCESS, timeout=20_000)
    assert_success(page, order_id)
    posts = log.confirm_posts()
    if javascript:
        assert len(posts) == 1, "the button guard lets exactly one submit through"
    else:
        assert len(posts) >= 2, "without JavaScript the browser really submits again"
        assert len({_form_key(p.post_data) for p in posts}) == 1, "every submit: one key"
    assert live.charges(order_id) == 1


def _form_key(body: str | None) -> str:
    from urllib.parse import parse_qs

    return parse_qs(body or "")["confirm_key"][0]


def test_ssr_button_shows_loading_state(live: Stack, new_context: Any) -> None:
    live.fault(**DELAY, delay_ms=1000)
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_confirm_page(page)
    # Click, then read the button in the same task, before the navigation can commit.
    state = page.evaluate(
        """() => {
            const button = document.getElementById("pay");
            button.click();
            const after = {disabled: button.disabled, busy: button.getAttribute("aria-busy"),
                           loading: button.classList.contains("is-loading")};
            button.click();  // a second click on the (now disabled) button: nothing
            document.getElementById("confirm-form").requestSubmit();  // nor a scripted submit
            return after;
        }"""
    )
    assert state == {"disabled": True, "busy": "true", "loading": True}
    page.wait_for_selector(SUCCESS, timeout=20_000)
    assert len(log.confirm_posts()) == 1
    assert live.charges(order_id) == 1


def test_ssr_back_and_forward_after_paying(live: Stack, new_context: Any) -> None:
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_confirm_page(page)
    pay_and_wait(page)
    mark = log.mark()
    page.go_back()
    assert_success(page, order_id)
    page.go_back()
    page.wait_for_selector("[data-testid^=buy-]")  # the shop
    page.go_forward()
    assert_success(page, order_id)
    page.go_forward()
    assert_success(page, order_id)
    assert log.posts(mark) == []
    assert live.charges(order_id) == 1


def test_ssr_page_restored_from_bfcache_shows_true_state(live: Stack, new_context: Any) -> None:
    """A stale confirm page (order paid elsewhere) restored from bfcache reloads to success."""
    context = new_context(new_user())
    stale = context.new_page()
    order_id = open_confirm_page(stale)
    other = context.new_page()
    other.goto(f"/checkout/{order_id}")
    pay_and_wait(other)
    assert stale.locator("#pay").is_enabled()  # the snapshot still looks payable
    # What the browser fires when it restores a page from the back-forward cache:
    with stale.expect_navigation():
        stale.evaluate(
            "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
        )
    assert_success(stale, order_id)
    assert live.charges(order_id) == 1


def test_ssr_two_tabs_confirm_same_order_at_once(live: Stack, new_context: Any) -> None:
    live.fault(**DELAY, delay_ms=1000)
    context = new_context(new_user())
    first, second = context.new_page(), context.new_page()
    order_id = open_confirm_page(first)
    second.goto(f"/checkout/{order_id}")
    key = first.locator("[data-testid=confirm-key]").get_attribute("value")
    assert second.locator("[data-testid=confirm-key]").get_attribute("value") == key
    first.click("#pay", no_wait_after=True)
    second.click("#pay", no_wait_after=True)
    for page in (first, second):
        page.wait_for_selector(SUCCESS, timeout=20_000)
        assert_success(page, order_id)
    assert live.charges(order_id) == 1


def test_ssr_stale_tab_submitted_after_paying_replays(live: Stack, new_context: Any) -> None:
    """A confirm page left open in another tab, submitted after paying: success, one charge."""
    context = new_context(new_user(), javascript=False)
    paid, stale = context.new_page(), context.new_page()
    order_id = open_confirm_page(paid)
    stale.goto(f"/checkout/{order_id}")
    pay_and_wait(paid)
    pay_and_wait(stale)
    assert_success(stale, order_id)
    assert live.charges(order_id) == 1


def test_ssr_decline_then_pay(live: Stack, new_context: Any) -> None:
    page = new_context(new_user()).new_page()
    order_id = open_confirm_page(page)
    first_key = page.locator("[data-testid=confirm-key]").get_attribute("value")
    page.check("input[value=pm_card_chargeDeclined]")
    page.click("#pay")
    page.wait_for_selector("[data-testid=decline]")
    assert page.locator("#pay").is_enabled()
    assert page.locator("[data-testid=confirm-key]").get_attribute("value") != first_key
    page.check("input[value=pm_card_visa]")
    pay_and_wait(page)
    assert_success(page, order_id)
    assert live.charges(order_id) == 1
