"""The single-page checkout in a real Chromium: stable keys, retries, one charge."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from harness._process import ServerProcess

from .conftest import RequestLog, Stack, new_user

pytestmark = pytest.mark.browser

SUCCESS = "[data-testid=success]"
DELAY = {"endpoint": "POST /v1/payment_intents", "mode": "delay", "count": 1}


def open_spa_order(page: Any, sku: str = "hoodie-grey") -> str:
    """Shop page first (so Back has somewhere to go), then the SPA creates an order."""
    page.goto("/shop")
    page.goto("/spa")
    page.click(f"[data-testid=buy-{sku}]")
    page.wait_for_selector("#pay")
    page.wait_for_url("**/spa?orderId=*")
    order_id: str = page.url.split("orderId=", 1)[1]
    return order_id


def keys(posts: list[Any]) -> set[str]:
    return {post.headers.get("idempotency-key", "") for post in posts}


def assert_success(page: Any, order_id: str) -> None:
    page.wait_for_selector(SUCCESS, timeout=20_000)
    assert page.locator(SUCCESS).get_attribute("data-order-id") == order_id
    assert page.locator("#pay").count() == 0


def test_spa_sign_in_checkout_back_and_resume(live: Stack, new_context: Any) -> None:
    """Sign in inside the SPA, pay, Back, then reopen the order: success, one charge."""
    page = new_context().new_page()
    log = RequestLog(page)
    page.goto("/shop")
    page.goto("/spa")
    page.fill("[data-testid=signin] input[name=user]", new_user())
    page.click("#signin")
    page.click("[data-testid=buy-tee-black]")
    page.wait_for_selector("#pay")
    order_id = page.url.split("orderId=", 1)[1]
    page.click("#pay")
    assert_success(page, order_id)
    assert len(log.confirm_posts()) == 1
    mark = log.mark()
    page.go_back()  # location.replace() removed the SPA entry: Back leaves the checkout
    page.wait_for_selector("[data-testid^=buy-]")
    assert "/shop" in page.url
    page.go_forward()
    assert_success(page, order_id)
    page.goto(f"/spa?orderId={order_id}")  # resuming a paid order goes straight to success
    assert_success(page, order_id)
    assert log.confirm_posts(mark) == []
    assert live.charges(order_id) == 1


def test_spa_reload_on_success_page_never_posts(live: Stack, new_context: Any) -> None:
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_spa_order(page)
    page.click("#pay")
    assert_success(page, order_id)
    mark = log.mark()
    page.reload()
    assert_success(page, order_id)
    assert log.posts(mark) == []
    assert live.charges(order_id) == 1


@pytest.mark.parametrize("clicks", [2, 5])
def test_spa_rapid_clicks_send_one_confirm(live: Stack, new_context: Any, clicks: int) -> None:
    live.fault(**DELAY, delay_ms=600)
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_spa_order(page)
    box = page.locator("#pay").bounding_box()
    assert box is not None
    for _ in range(clicks):
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.locator("#pay").get_attribute("aria-busy") == "true"
    assert_success(page, order_id)
    assert len(log.confirm_posts()) == 1
    assert live.charges(order_id) == 1


def test_spa_offline_during_confirm_retries_with_the_same_key(
    live: Stack, new_context: Any
) -> None:
    context = new_context(new_user())
    page = context.new_page()
    log = RequestLog(page)
    order_id = open_spa_order(page)
    context.set_offline(True)
    page.click("#pay")
    deadline = time.monotonic() + 10
    while not log.failed and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert log.failed, "the confirm request should fail while offline"
    page.wait_for_timeout(300)
    context.set_offline(False)
    assert_success(page, order_id)
    posts = log.confirm_posts()
    assert len(posts) >= 2, "the SPA retried"
    assert len(keys(posts)) == 1, "every retry carried the first attempt's key"
    assert live.charges(order_id) == 1


def test_spa_lost_response_retry_replays(live: Stack, new_context: Any) -> None:
    """The server charges but the answer never reaches the page: the retry replays it."""
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_spa_order(page)
    lost: list[int] = []

    def drop_first_answer(route: Any) -> None:
        if not lost:
            response = route.fetch()  # the real server handles the request...
            lost.append(response.status)
            route.abort("connectionreset")  # ... and the page never hears back
        else:
            route.continue_()

    replayed: list[str | None] = []
    page.on(
        "response",
        lambda r: (
            replayed.append(r.headers.get("idempotent-replayed"))
            if r.url.endswith("/confirm")
            else None
        ),
    )
    page.route("**/api/orders/*/confirm", drop_first_answer)
    page.click("#pay")
    assert_success(page, order_id)
    assert lost == [200]
    posts = log.confirm_posts()
    assert len(posts) >= 2
    assert len(keys(posts)) == 1
    assert "true" in replayed, "the retry got the stored answer, not a new charge"
    assert live.charges(order_id) == 1


def test_spa_reload_while_confirm_in_flight_resumes(live: Stack, new_context: Any) -> None:
    live.fault(**DELAY, delay_ms=1000)
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_spa_order(page)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/confirm")):
        page.click("#pay")
    stored = page.evaluate("Object.keys(sessionStorage)")
    assert stored == [f"nodouble.confirm.{order_id}"]
    time.sleep(0.3)
    try:
        page.reload()
    except PlaywrightError as exc:  # the fetch it cancelled
        assert "ERR_ABORTED" in str(exc), exc
    page.wait_for_selector("[data-testid=progress], #pay, " + SUCCESS)
    if page.locator("#pay").count():  # the claim had not landed yet: pay again, same key
        page.click("#pay")
    assert_success(page, order_id)
    assert len(keys(log.confirm_posts())) == 1, "after the reload, only the same key"
    assert live.charges(order_id) == 1


@pytest.mark.slow
def test_spa_two_tabs_confirm_same_order(live: Stack, new_context: Any) -> None:
    """Each tab has its own sessionStorage, so its own key: the server still pays once."""
    live.fault(**DELAY, delay_ms=1000)
    context = new_context(new_user())
    first, second = context.new_page(), context.new_page()
    order_id = open_spa_order(first)
    second.goto(f"/spa?orderId={order_id}")
    second.wait_for_selector("#pay")
    first.click("#pay")
    second.click("#pay")
    for page in (first, second):
        assert_success(page, order_id)
    assert live.charges(order_id) == 1


def test_spa_decline_then_pay_uses_a_new_key(live: Stack, new_context: Any) -> None:
    page = new_context(new_user()).new_page()
    log = RequestLog(page)
    order_id = open_spa_order(page)
    page.check("input[value=pm_card_chargeDeclined]")
    page.click("#pay")
    page.wait_for_selector("[data-testid=decline]")
    assert page.evaluate("Object.keys(sessionStorage)") == []
    page.check("input[value=pm_card_visa]")
    page.click("#pay")
    assert_success(page, order_id)
    posts = log.confirm_posts()
    assert len(posts) == 2
    assert len(keys(posts)) == 2
    assert live.charges(order_id) == 1


def test_spa_page_restored_from_bfcache_reloads(live: Stack, new_context: Any) -> None:
    context = new_context(new_user())
    stale = context.new_page()
    order_id = open_spa_order(stale)
    other = context.new_page()
    other.goto(f"/spa?orderId={order_id}")
    other.click("#pay")
    assert_success(other, order_id)
    assert stale.locator("#pay").is_enabled()
    with stale.expect_navigation():
        stale.evaluate(
            "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))"
        )
    assert_success(stale, order_id)
    assert live.charges(order_id) == 1


def test_spa_pay_takes_the_money_at_once_even_under_the_manual_setting(
    live: Stack, chromium: Any, tmp_path: Path
) -> None:
    """Manual capture is API-only: the SPA has no capture step, so its confirm asks for
    automatic capture whatever NODOUBLE_CAPTURE_METHOD says, and shows success."""
    env = {
        "NODOUBLE_DATABASE_URL": f"sqlite:///{tmp_path}/manual.sqlite3",
        "NODOUBLE_PROVIDER_URL": live.provider.url,
        "NODOUBLE_SESSION_SECRET": "pages-manual-" + new_user(),
        "NODOUBLE_CAPTURE_METHOD": "manual",
    }
    with ServerProcess("reference_app.app:create_app", env=env) as app:
        context = chromium.new_context(base_url=app.url)
        try:
            context.set_default_timeout(20_000)
            signed_in = context.request.post(app.url + "/api/session", data={"user": new_user()})
            assert signed_in.status == 200, signed_in.text()
            page = context.new_page()
            log = RequestLog(page)
            order_id = open_spa_order(page)
            page.click("#pay")
            assert_success(page, order_id)
            [post] = log.confirm_posts()
            assert post.post_data_json["capture_method"] == "automatic"
        finally:
            context.close()
    assert live.charges(order_id) == 1
