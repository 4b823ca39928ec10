"""Browser steps: one shared Chromium, a fresh driver (contexts, tabs) per scenario run.

The interpreter hands every browser step here. Tabs named in scenarios (``t1``, ``t2``)
are bound to the driver's tabs; the order a tab is paying for is tagged on the tab, so
every recorded operation says which business key it concerns.

A step proves it acted: a control it must click that is not on the page, or a page that
does not open, fails the step with a :class:`~harness.interpreter.StepError` naming the
selector (and its profile field) and the page, so the scenario ends ``error``, never
passed. The one expected absence is the Pay control of an order already paid, when the
profile declares what such a page shows (``browser.selectors.already_paid``): the history
then records that state instead of a click.

An order's paid state can be read from a page (``[browser.read_order]``) instead of a
JSON API: :meth:`BrowserSession.read_order`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness import _shared_chromium, _threeds
from harness._redact import redact_text
from harness._shared_chromium import Endpoint
from harness.browser import find_chromium
from harness.drivers.browser import BrowserDriver, launch_chromium
from harness.history import Op
from harness.profile import render
from scenarios import steps as s

if TYPE_CHECKING:
    from harness.interpreter import Interpreter

PRESENT_TIMEOUT_MS = 5_000
"""How long a control a step needs may take to appear before the step fails."""
READ_TIMEOUT_MS = 3_000
"""How long an order page may take to show its paid or unpaid marker."""


@dataclass
class BrowserSession:
    """A Chromium shared by every scenario run of a harness run, as one thread drives it.

    Each scenario run gets its own browser contexts (:class:`BrowserDriver`). A session
    launched ``shared`` lets other threads :meth:`attach` sessions of their own to the
    same Chromium (:mod:`harness._shared_chromium`), so browser runs can overlap.
    """

    playwright: Playwright
    browser: Browser
    drivers: dict[int, _RunBrowser] = field(default_factory=dict)
    endpoint: Endpoint | None = None
    """Where other threads attach; ``None``: this thread only."""

    @classmethod
    def launch(cls, shared: bool = False) -> BrowserSession:
        lookup = find_chromium()
        if not lookup.found:
            raise RuntimeError(f"no Chromium to drive: {lookup.explain()}")
        playwright = sync_playwright().start()
        try:
            if not shared:
                return cls(playwright, launch_chromium(playwright, lookup.executable))
            browser, endpoint = _shared_chromium.launch_shared(playwright, lookup.executable)
        except BaseException:
            playwright.stop()
            raise
        return cls(playwright, browser, endpoint=endpoint)

    def attach(self) -> BrowserSession:
        """A session for the calling thread, on this session's Chromium (launched
        ``shared``); the calling thread must :meth:`close` it."""
        if self.endpoint is None:
            raise RuntimeError("this Chromium was not launched to be shared between threads")
        playwright, browser = _shared_chromium.attach(self.endpoint)
        return BrowserSession(playwright, browser)

    @property
    def version(self) -> str:
        return self.browser.version

    def step(self, step: s.Step, interp: Interpreter) -> None:
        self._run(interp).step(step)

    def read_order(self, interp: Interpreter, order_id: str, user: str) -> Op:
        """Read whether ``order_id`` is paid from its page (``[browser.read_order]``), as
        scenario user ``user`` (``"alice"``), and record a ``read_order`` operation.

        Works before any other browser step of the run: the driver starts on demand and
        the user signs in first. Raises :class:`~harness.interpreter.StepError` when the
        profile has no ``[browser.read_order]``.
        """
        return self._run(interp).read_order(order_id, user)

    def _run(self, interp: Interpreter) -> _RunBrowser:
        run = self.drivers.get(id(interp))
        if run is None:
            run = self.drivers[id(interp)] = _RunBrowser(self, interp)
        return run

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
            raise _step_error("browser steps need the profile's [browser] section")
        self.section = section
        self.driver: BrowserDriver | None = None
        self.tabs: dict[str, str] = {}
        self.moved: set[str] = set()
        """Tabs the scenario has moved in with Back, Forward or Reload."""
        self.spa = False
        self.challenges: dict[str, str] = {}
        """Tab → intent of the 3-D Secure challenge it last showed."""

    def _driver(self, javascript: bool) -> BrowserDriver:
        if self.driver is None:
            sel = self.section.selectors
            markers = {"success": sel.success}
            if sel.in_progress:
                markers["in_progress"] = sel.in_progress
            markers["confirm"] = sel.pay
            if sel.already_paid:
                markers["already_paid"] = sel.already_paid
            markers["challenge"] = _threeds.challenge_marker(self.interp.target.provider_url)
            pages = [("confirm", self.section.confirm_url_regex)]
            if self.section.spa_confirm_url_regex:
                pages.append(("confirm", self.section.spa_confirm_url_regex))
            pages.append(("success", self.section.success_url_regex))
            threeds = self.section.threeds
            if threeds is not None and threeds.return_url_regex:
                pages.append(("return", threeds.return_url_regex))
            if self.section.hosted is not None:  # the page the provider redirects back to
                pages.append(("success", self.section.hosted.success_url_regex))
            self.driver = BrowserDriver(
                self.interp.history, self.interp.target.base_url, self.interp.artifacts,
                javascript_enabled=javascript, markers=markers, browser=self.session.browser,
                outcomes={"success": "success", "in_progress": "pending",
                          "challenge": "pending"},
                payment_pages=pages,
            ).start()  # fmt: skip
        return self.driver

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None

    def tab(self, name: str) -> str:
        if name not in self.tabs:
            raise _step_error(f"tab {name!r} is used before a step opened it")
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
            self.moved.add(tab)
            done = getattr(driver, step.action)(tab=tab)
            url = str(done.value.get("url") or "")
            stayed = url == done.value.get("url_before") and self._on_site(url)
            if step.action != "reload" and done.value.get("no_history") and stayed:
                raise _step_error(
                    f"{step.action.capitalize()} did nothing: the tab has no history entry to "
                    f"go to from {done.value.get('url')}"
                )
        elif isinstance(step, s.Offline):
            self._driver(True).set_offline(step.offline, tab=self.tab(step.tab))
        elif isinstance(step, s.WaitForState):
            self.wait_for(step.tab, step.state, step.timeout_ms)
        elif isinstance(step, s.ChooseCard):
            _threeds.choose_card(self, step)
        elif isinstance(step, s.Authenticate3DS):
            _threeds.authenticate(self, step)
        elif isinstance(
            step,
            s.OpenHostedPage
            | s.PayOnHostedPage
            | s.PayHostedOffPage
            | s.ReturnFromHostedPage
            | s.OpenSuccessUnpaid,
        ):
            from harness import _hosted  # it builds on this module

            _hosted.run_step(self, step)
        else:
            raise _step_error(f"no browser handler for {type(step).__name__}")

    # -- steps ----------------------------------------------------------------------

    def checkout(self, step: s.BrowserCheckout) -> None:
        driver = self._driver(step.javascript)
        self.spa = step.spa
        user = self.interp.user_name(step.user)
        tab = driver.new_tab(user)
        self.tabs[step.tab] = tab
        self._login(driver, tab, user)
        entry = self.section.spa_entry_path if step.spa else self.section.entry_path
        field = "browser.spa_entry_path" if step.spa else "browser.entry_path"
        if entry is None:
            raise _step_error("the profile declares no browser.spa_entry_path")
        self._opened(driver, tab, driver.goto(entry, tab=tab), f"the entry page ({field})")
        selectors = self.section.selectors
        if selectors.add_to_cart:
            self._click(driver, tab, selectors.add_to_cart, "add_to_cart")
        self._click(driver, tab, selectors.checkout, "checkout")
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
        path = render(login.path, values)
        response = page.request.fetch(
            self.interp.target.base_url + path,
            method=login.method,
            data=render(login.json_body, values) if login.json_body else None,
            form=dict(render(login.form, values)) if login.form else None,
        )
        if response.status >= 400:
            raise _step_error(
                f"browser sign-in as {user!r} ({login.method} {path}, session.login) "
                f"answered HTTP {response.status}"
            )

    def _opened(self, driver: BrowserDriver, tab: str, op: Op, what: str) -> None:
        """Fail the step unless the navigation ``op`` showed a page (below HTTP 400)."""
        document = op.value.get("document")
        status = document.get("status") if isinstance(document, dict) else None
        target = op.value.get("target") or op.value.get("url")
        if op.type == "ok" and not (isinstance(status, int) and status >= 400):
            return
        self._screenshot(driver, tab)
        why = f"answered HTTP {status}" if isinstance(status, int) else "did not load"
        if op.value.get("error"):
            why += f" ({op.value['error']})"
        raise _step_error(f"opening {what} {target} {why}; the page shows {op.value.get('url')}")

    def _click(self, driver: BrowserDriver, tab: str, selector: str, field: str) -> Op:
        """Click a control the step needs; fail the step if no such control is visible."""
        if not _shows(driver.page(tab), selector, timeout_ms=PRESENT_TIMEOUT_MS):
            self._screenshot(driver, tab)
            raise _step_error(
                f"browser.selectors.{field} {selector!r} matches nothing visible on "
                f"{_where(driver.page(tab))}"
            )
        return driver.click(selector, tab=tab)

    def _wait_order_id(self, driver: BrowserDriver, tab: str, spa: bool) -> str:
        pattern = self.section.spa_confirm_url_regex if spa else self.section.confirm_url_regex
        field = "browser.spa_confirm_url_regex" if spa else "browser.confirm_url_regex"
        if pattern is None:
            raise _step_error(f"the profile has no {field} to read the order id from")
        page = driver.page(tab)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            match = re.search(pattern, page.url)
            if match and match.groupdict().get("order_id"):
                return match.group("order_id")
            page.wait_for_timeout(50)
        self._screenshot(driver, tab)
        raise _step_error(
            f"after clicking browser.selectors.checkout "
            f"{self.section.selectors.checkout!r} the page is {_where(page)}, which "
            f"{field} {pattern!r} does not match with an order_id group"
        )

    def open_confirm(self, step: s.OpenConfirm) -> None:
        driver = self._driver(True)
        order_id = self.interp.state.order_id(step.order)
        if not self.tabs:
            raise _step_error("OpenConfirm needs a tab of a customer: run BrowserCheckout first")
        first = next(iter(self.tabs.values()))
        user = driver.user_of(first)
        tab = driver.new_tab(user)
        self.tabs[step.tab] = tab
        driver.tag(tab, order_id=order_id)
        template = self.section.spa_confirm_path if self.spa else self.section.confirm_path
        field = "browser.spa_confirm_path" if self.spa else "browser.confirm_path"
        if template is None:
            raise _step_error(f"the profile declares no {field}")
        op = driver.goto(render(template, {"order_id": order_id}), tab=tab)
        self._opened(driver, tab, op, f"the confirm page ({field})")

    def click_pay(self, step: s.ClickPay) -> None:
        """Click Pay; or record an expected page without it; or fail the step.

        Expected without a Pay control: the page the profile declares for an already paid
        order (``already_paid``), and, after Back or Forward in this tab, a page that is
        not the checkout's at all (``left_checkout``: a checkout that replaced its pages
        in the history, so Back leaves it). Anything else fails the step.
        """
        driver = self._driver(True)
        tab = self.tab(step.tab)
        pay = self.section.selectors.pay
        already = self.section.selectors.already_paid
        page = driver.page(tab)
        left = tab in self.moved and not self._on_site(page.url)
        if not left:
            _shows(page, pay, *([already] if already else []), timeout_ms=PRESENT_TIMEOUT_MS)
        expected: str | None = None
        if _visible(page, pay):
            pass
        elif already is not None and _visible(page, already):
            if not self._back_on_confirm(tab, page.url):
                self._screenshot(driver, tab)
                raise _step_error(
                    f"no Pay control on {_where(page)}, which shows browser.selectors."
                    f"already_paid {already!r}, but this tab has not loaded the order's "
                    "confirm page since it last paid (did Back or Reload do nothing?)"
                )
            expected = "already_paid"
        elif left:
            expected = "left_checkout"
        if expected is not None:
            value = {"selector": pay, "expected_state": expected}
            if already is not None:
                value["already_paid"] = already
            driver.note("click", value, tab=tab, result={"outcome": expected})
            self._screenshot(driver, tab)
            return
        if not _visible(page, pay):
            self._screenshot(driver, tab)
            where = _where(page)
            if already is None:
                hint = (
                    "; if this is what an already paid order shows, declare it with "
                    "browser.selectors.already_paid"
                )
            else:
                hint = f", and browser.selectors.already_paid {already!r} is not shown either"
            raise _step_error(
                f"no Pay control: browser.selectors.pay {pay!r} matches nothing visible on "
                f"{where}{hint}"
            )
        driver.click(pay, count=step.count, delay_ms=step.interval_ms, tab=tab,
                     extra={"pay": True})  # fmt: skip
        if step.wait:
            self.wait_for(step.tab, "success", 15_000)

    def _back_on_confirm(self, tab: str, url: str) -> bool:
        """Whether the tab is on, or has loaded since its last Pay click, a confirm page: only
        there does "already paid" answer the customer's second attempt to pay."""
        patterns = [self.section.confirm_url_regex, self.section.spa_confirm_url_regex]
        if any(p and re.search(p, url) for p in patterns):
            return True
        for op in reversed(self.interp.history.ops):
            if op.process != tab:
                continue
            if op.value.get("pay") and op.type != "invoke":
                return False
            documents = op.value.get("documents")
            for doc in documents if isinstance(documents, list) else []:
                if isinstance(doc, dict) and doc.get("payment_page") == "confirm":
                    return True
        return False

    def _on_site(self, url: str) -> bool:
        """Whether ``url`` is a page of the checkout (or an error page in its place)."""
        if url.startswith("chrome-error://"):
            return True  # the checkout's page failed to load: not a page of elsewhere
        base = urlsplit(self.interp.target.base_url)
        here = urlsplit(url)
        return (here.scheme, here.netloc) == (base.scheme, base.netloc)

    def wait_for(self, tab_ref: str, state: str, timeout_ms: int) -> None:
        """Watch the tab until it shows ``state``; a timeout is recorded as an ``info``
        ``wait_state`` (outcome unknown, with the state the page did show), not raised."""
        driver = self._driver(True)
        tab = self.tab(tab_ref)
        driver.wait_until(state, timeout_ms=timeout_ms, tab=tab)
        _threeds.remember(self, tab)
        self._screenshot(driver, tab)

    # -- reading an order from a page ---------------------------------------------------

    def read_order(self, order_id: str, user: str) -> Op:
        spec = self.section.read_order
        if spec is None:
            raise _step_error("reading an order from a page needs [browser.read_order]")
        driver = self._driver(True)
        name = self.interp.user_name(user)
        fresh = not driver.signed_in(name)
        tab = driver.new_tab(name)
        try:
            if fresh:
                self._login(driver, tab, name)
            return self._read_page(driver, tab, order_id, name)
        finally:
            driver.close_tab(tab)

    def _read_page(self, driver: BrowserDriver, tab: str, order_id: str, user: str) -> Op:
        spec = self.section.read_order
        assert spec is not None
        path = render(spec.path, {"order_id": order_id})
        history = self.interp.history
        invocation = history.invoke(
            tab, "read_order", {"order_id": order_id, "user": user, "target": path, "via": "page"}
        )
        value: dict[str, Any] = {"order_id": order_id, "user": user, "paid": None, "amount": None}
        page = driver.page(tab)
        try:
            response = page.goto(path)
        except PlaywrightError as exc:
            value.update(url=redact_text(page.url), status=None, error=_first_line(exc))
            return history.info(invocation, value)
        status = response.status if response is not None else None
        value.update(url=redact_text(page.url), status=status)
        if status is None or status >= 500:
            value["error"] = "no answer" if status is None else f"HTTP {status} on the page"
            return history.info(invocation, value)
        if status >= 400:
            return history.fail(invocation, value)
        _shows(page, spec.paid, spec.unpaid, timeout_ms=READ_TIMEOUT_MS)
        shown = [name for name, sel in (("paid", spec.paid), ("unpaid", spec.unpaid))
                 if _visible(page, sel)]  # fmt: skip
        value["shown"] = shown
        if shown == ["paid"]:
            value["paid"] = True
        elif shown == ["unpaid"]:
            value["paid"] = False
        return history.ok(invocation, value)

    def _screenshot(self, driver: BrowserDriver, tab: str) -> None:
        try:
            shot = driver.screenshot(f"{tab}-{len(self.interp.history.ops):04d}", tab=tab)
        except PlaywrightError:
            return  # a tab that cannot be photographed still has its history
        self.interp.screenshots.append(f"artifacts/{self.interp.artifacts.name}/{shot}")


def _shows(page: Page, *selectors: str, timeout_ms: float) -> bool:
    """Wait up to ``timeout_ms`` until an element matching one of ``selectors`` is visible."""
    locator = page.locator(selectors[0])
    for selector in selectors[1:]:
        locator = locator.or_(page.locator(selector))
    try:
        locator.filter(visible=True).first.wait_for(state="visible", timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    except PlaywrightError as exc:
        raise _step_error(
            f"the browser cannot use selector(s) {', '.join(map(repr, selectors))}: "
            f"{_first_line(exc)}"
        ) from None
    return True


def _visible(page: Page, selector: str) -> bool:
    """Whether an element matching ``selector`` is visible now."""
    try:
        return page.locator(selector).filter(visible=True).count() > 0
    except PlaywrightError:
        return False


def _where(page: Page) -> str:
    return redact_text(page.url)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(text[0]) if text else type(exc).__name__


def _step_error(message: str) -> RuntimeError:
    """A :class:`~harness.interpreter.StepError` (imported late: the interpreter imports
    this module)."""
    from harness.interpreter import StepError

    return StepError(message)
