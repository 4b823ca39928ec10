"""The browser driver against real pages served by a real uvicorn process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _apps import server
from playwright.sync_api import Browser, sync_playwright

from harness._process import ServerProcess
from harness._testing import missing
from harness.browser import find_chromium
from harness.drivers.browser import BrowserDriver, launch_chromium
from harness.history import History

pytestmark = pytest.mark.browser

MARKERS = {"success": "#success", "confirm": "#confirm", "done_url": "url:/done$"}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, lookup.executable)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app(chromium: Browser) -> Iterator[ServerProcess]:
    with server() as proc:
        yield proc


@pytest.fixture
def make_driver(
    app: ServerProcess, chromium: Browser, tmp_path: Path
) -> Callable[..., BrowserDriver]:
    def make(**kwargs: Any) -> BrowserDriver:
        httpx.post(app.url + "/reset")
        return BrowserDriver(
            History(), app.url, tmp_path, markers=MARKERS, browser=chromium, **kwargs
        )

    return make


def _count(app: ServerProcess, key: str) -> int:
    counts: dict[str, int] = httpx.get(app.url + "/stats").json()["counts"]
    return counts.get(key, 0)


def test_submit_records_the_post_and_the_document(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver() as drv:
        tab = drv.new_tab("alice")
        load = drv.goto("/checkout")
        assert (load.type, load.f, load.process) == ("ok", "page_load", "tab-1")
        assert load.value["page_state"] == "confirm" and load.value["posts"] == []
        assert load.value["document"]["cache_control"] == "no-store"
        op = drv.submit("#pay-form", tab=tab)
    assert op.type == "ok" and op.f == "submit" and op.value["user"] == "alice"
    assert op.value["outcome"] == "success" and op.value["url"].endswith("/pay")
    [post] = op.value["posts"]
    assert post["method"] == "POST" and post["navigation"] is True and post["size"] > 0
    assert op.value["document"] == {
        "url": app.url + "/pay",
        "method": "POST",
        "status": 200,
        "cache_control": "no-store",
        "location": None,
        "payment_page": None,
    }
    assert op.value["reposted"] is False
    assert _count(app, "POST /pay") == 1


def test_reload_of_a_post_result_page_reposts(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver() as drv:
        drv.new_tab()
        drv.goto("/checkout")
        drv.submit("#pay-form")
        reload = drv.reload()
        back = drv.back()
        forward = drv.forward()
    assert reload.type == "ok" and reload.value["reposted"] is True
    assert _count(app, "POST /pay") == 2  # the reload really charged again
    assert back.value["page_state"] == "confirm" and back.value["reposted"] is False
    # Forward onto a no-store POST result: Chromium refuses to resend from history.
    assert forward.type == "info" and forward.value["reposted"] is False
    assert "ERR_CACHE_MISS" in forward.value["posts"][0]["failure"]


def test_post_redirect_get_records_the_303(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver() as drv:
        drv.new_tab()
        drv.goto("/checkout?action=/pay-prg")
        click = drv.click("#pay")
        reload = drv.reload()
    first, last = click.value["documents"]
    assert (first["method"], first["status"], first["location"]) == ("POST", 303, "/done")
    assert (last["method"], last["status"]) == ("GET", 200)
    assert click.value["page_states"] == ["success", "done_url"]
    assert reload.value["reposted"] is False and reload.value["posts"] == []
    assert _count(app, "POST /pay-prg") == 1


def test_double_click_fires_two_posts(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver() as drv:
        drv.new_tab()
        drv.goto("/checkout")
        op = drv.click("#js-pay", count=2)
    assert [p["resource_type"] for p in op.value["posts"]] == ["fetch", "fetch"]
    assert _count(app, "POST /api/pay") == 2


def test_a_second_click_once_sent_reaches_the_server_with_the_first(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    # a form that takes 300 ms to answer: the second click comes while the first is on its way
    with make_driver() as drv:
        drv.new_tab()
        drv.goto("/checkout?action=/slow%3Fms%3D300")
        op = drv.click("#pay", count=2, once_sent=True)
    assert op.value["once_sent"] is True
    posts = op.value["posts"]
    # the browser gave up the first form for the second, but only after it was sent
    assert len(posts) == 2 and posts[0]["url"] == posts[1]["url"], posts
    assert _count(app, "POST /slow") == 2, posts


def test_without_javascript(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver(javascript_enabled=False) as drv:
        drv.new_tab()
        drv.goto("/checkout")
        assert drv.page().locator("#js-state").text_content() == "no script ran"
        scripted = drv.click("#js-pay", count=2)
        op = drv.submit("#pay-form")
    assert scripted.value["posts"] == []
    assert op.type == "ok" and op.value["page_state"] == "success"
    assert _count(app, "POST /pay") == 1 and _count(app, "POST /api/pay") == 0


def test_navigation_timeout_is_info(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver(timeout_ms=500) as drv:
        drv.new_tab()
        op = drv.goto("/slow?ms=1500")
    assert op.type == "info" and op.value["outcome"] == "unknown"
    assert op.value["error"].startswith("timeout")


def test_offline_click_is_info_and_not_sent(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver() as drv:
        drv.new_tab()
        drv.goto("/checkout")
        assert drv.set_offline(True).type == "ok"
        op = drv.click("#pay")
        assert drv.set_offline(False).type == "ok"
    assert op.type == "info" and "ERR_INTERNET_DISCONNECTED" in op.value["posts"][0]["failure"]
    assert _count(app, "POST /pay") == 0


def test_tabs_users_and_screenshots(
    app: ServerProcess, make_driver: Callable[..., BrowserDriver], tmp_path: Path
) -> None:
    with make_driver(screenshot_each=True) as drv:
        one = drv.new_tab("alice")
        two = drv.new_tab("bob")
        drv.goto("/checkout", tab=one)
        op = drv.goto("/done", tab=two)
        path = drv.screenshot("after done!", tab=one)
        assert drv.page_state({"x": "url:/checkout$", "y": "#nothing"}, tab=one) == ["x"]
        with pytest.raises(KeyError, match="no tab 'tab-9'"):
            drv.goto("/", tab="tab-9")
    assert (one, two) == ("tab-1", "tab-2")
    assert op.process == "tab-2" and op.value["user"] == "bob"
    assert path == "screenshots/after_done.png" and (tmp_path / path).stat().st_size > 0
    assert (tmp_path / op.value["screenshot"]).exists()
