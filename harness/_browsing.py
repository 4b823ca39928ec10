"""Browser steps: one shared Chromium, a fresh driver (contexts, tabs) per scenario run.

The interpreter hands every browser step here. Tabs named in scenarios (``t1``, ``t2``)
are bound to the driver's tabs; the order a tab is paying for is tagged on the tab, so
every recorded operation says which business key it concerns.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from playwright.sync_api import Browser, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from harness.browser import find_chromium
from harness.drivers.browser import BrowserDriver, launch_chromium
from harness.profile import render
from scenarios import steps as s

if TYPE_CHECKING:
    from harness.interpreter import Interpreter

PRESENT_TIMEOUT_MS = 1_500


@dataclass
class BrowserSession:
    """A Chromium shared by every scenario run of a harness run."""

    playwright: Playwright
    browser: Browser
    drivers: dict[int, _RunBrowser] = field(default_factory=dict)

    @classmethod
    def launch(cls) -> BrowserSession:
        lookup = find_chromium()
        if not lookup.found:
            raise RuntimeError(f"no Chromium to drive: {lookup.explain()}")
        playwright = sync_playwright().start()
        return cls(playwright, launch_chromium(playwright, lookup.executable))

    @property
    def version(self) -> str:
        return self.browser.version

    def step(self, step: s.Step, interp: Interpreter) -> None:
        run = self.drivers.get(id(interp))
        if run is None:
            run = self.drivers[id(interp)] = _RunBrowser(self, interp)
        run.step(step)

    def finish(self, interp: Interpreter) -> None:
        run = self.drivers.pop(id(interp), None)
        if run is not None:
            run.close()

    def close(self) -> None:
        for run in list(self.drivers.values()):
            run.close()
        self.drivers.clear()
        self.browser.close()
        self.playwright.stop()


class _RunBrowser:
    """The browser side of one scenario run."""

    def __init__(self, session: BrowserSession, interp: Interpreter) -> None:
        self.session = session
        self.interp = interp
        section = interp.profile.browser
        if section is None:
            raise RuntimeError("browser steps need the profile's [browser] section")
        self.section = section
        self.driver: BrowserDriver | None = None
        self.tabs: dict[str, str] = {}
        self.spa = False

    def _driver(self, javascript: bool) -> BrowserDriver:
        if self.driver is None:
            sel = self.section.selectors
            markers = {"success": sel.success}
            if sel.in_progress:
                markers["in_progress"] = sel.in_progress
            markers["confirm"] = sel.pay
            self.driver = BrowserDriver(
                self.interp.history, self.interp.target.base_url, self.interp.artifacts,
                javascript_enabled=javascript, markers=markers, browser=self.session.browser,
                outcomes={"success": "success", "in_progress": "pending"},
            ).start()  # fmt: skip
        return self.driver

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None

    def tab(self, name: str) -> str:
        if name not in self.tabs:
            raise RuntimeError(f"tab {name!r} is used before a step opened it")
        return self.tabs[name]

    def step(self, step: s.Step) -> None:
        if isinstance(step, s.BrowserCheckout):
            self.checkout(step)
        elif isinstance(step, s.OpenConfirm):
            self.open_confirm(step)
        elif isinstance(step, s.ClickPay):
            self.click_pay(step)
        elif isinstance(step, s.Navigate):
            driver, tab = self._driver(True), self.tab(step.tab)
            getattr(driver, step.action)(tab=tab)
        elif isinstance(step, s.Offline):
            self._driver(True).set_offline(step.offline, tab=self.tab(step.tab))
        elif isinstance(step, s.WaitForState):
            self.wait_for(step.tab, step.state, step.timeout_ms)
        else:
            raise RuntimeError(f"no browser handler for {type(step).__name__}")

    # -- steps ----------------------------------------------------------------------

    def checkout(self, step: s.BrowserCheckout) -> None:
        driver = self._driver(step.javascript)
        self.spa = step.spa
        user = self.interp.user_name(step.user)
        tab = driver.new_tab(user)
        self.tabs[step.tab] = tab
        self._login(driver, tab, user)
        entry = self.section.spa_entry_path if step.spa else self.section.entry_path
        if entry is None:
            raise RuntimeError("the profile declares no SPA entry path")
        driver.goto(entry, tab=tab)
        selectors = self.section.selectors
        if selectors.add_to_cart:
            driver.click(selectors.add_to_cart, tab=tab)
        driver.click(selectors.checkout, tab=tab)
        order_id = self._wait_order_id(driver, tab, step.spa)
        self.interp.state.orders[self.interp.state.ref(step.order)] = order_id
        driver.tag(tab, order_id=order_id)

    def _login(self, driver: BrowserDriver, tab: str, user: str) -> None:
        login = self.interp.profile.session.login
        page = driver.page(tab)
        if login is None:
            headers = (self.interp.profile.session.headers or {}).get(user, {})
            page.context.set_extra_http_headers(headers)
            return
        values = {"user": user}
        response = page.request.fetch(
            self.interp.target.base_url + render(login.path, values),
            method=login.method,
            data=render(login.json_body, values) if login.json_body else None,
            form=dict(render(login.form, values)) if login.form else None,
        )
        if response.status >= 400:
            raise RuntimeError(f"browser login as {user!r} failed: HTTP {response.status}")

    def _wait_order_id(self, driver: BrowserDriver, tab: str, spa: bool) -> str:
        pattern = self.section.spa_confirm_url_regex if spa else self.section.confirm_url_regex
        if pattern is None:
            raise RuntimeError("the profile has no URL pattern to read the order id from")
        page = driver.page(tab)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            match = re.search(pattern, page.url)
            if match and match.groupdict().get("order_id"):
                return match.group("order_id")
            page.wait_for_timeout(50)
        raise RuntimeError(f"no order id in {page.url!r} (pattern {pattern!r})")

    def open_confirm(self, step: s.OpenConfirm) -> None:
        driver = self._driver(True)
        order_id = self.interp.state.order_id(step.order)
        first = next(iter(self.tabs.values()))
        user = driver.user_of(first)
        tab = driver.new_tab(user)
        self.tabs[step.tab] = tab
        driver.tag(tab, order_id=order_id)
        template = self.section.spa_confirm_path if self.spa else self.section.confirm_path
        if template is None:
            raise RuntimeError("the profile declares no spa_confirm_path")
        driver.goto(render(template, {"order_id": order_id}), tab=tab)

    def click_pay(self, step: s.ClickPay) -> None:
        driver = self._driver(True)
        tab = self.tab(step.tab)
        pay = self.section.selectors.pay
        page = driver.page(tab)
        try:
            page.locator(pay).first.wait_for(state="visible", timeout=PRESENT_TIMEOUT_MS)
        except PlaywrightError:
            driver.note("click", {"selector": pay, "skipped": "no Pay control on this page"},
                        tab=tab)  # fmt: skip
            self._screenshot(driver, tab)
            return
        driver.click(pay, count=step.count, delay_ms=step.interval_ms, tab=tab,
                     extra={"pay": True})  # fmt: skip
        if step.wait:
            self.wait_for(step.tab, "success", 15_000)

    def wait_for(self, tab_ref: str, state: str, timeout_ms: int) -> None:
        driver = self._driver(True)
        tab = self.tab(tab_ref)
        driver.wait_until(state, timeout_ms=timeout_ms, tab=tab)
        self._screenshot(driver, tab)

    def _screenshot(self, driver: BrowserDriver, tab: str) -> None:
        shot = driver.screenshot(f"{tab}-{len(self.interp.history.ops):04d}", tab=tab)
        self.interp.screenshots.append(f"artifacts/{self.interp.artifacts.name}/{shot}")
