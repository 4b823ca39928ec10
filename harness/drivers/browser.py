"""The browser driver: Jepsen's client for web checkouts, a real Chromium via Playwright.

Each *user* gets a browser context (its own cookies); each tab of a user is a *process*
(``tab-1``, ``tab-2``, ...). Every action (``page_load``, ``click``, ``submit``, ``back``,
``forward``, ``reload``, ``set_offline``) is recorded as an invocation and a completion with:

- ``url`` after the action and ``page_state``: the first of the configured markers that
  matches (``page_states`` lists all of them); a marker is a CSS selector or ``url:<regex>``;
- ``posts``: POST requests the tab fired since its previous operation ended (method, url,
  size, whether it was a navigation), ``documents``: main-document responses (status,
  Cache-Control, Location) and ``document``: the last of them; ``late_answers`` (only when
  there are some): answers to ``fetch``/XHR POSTs fired during an earlier operation;
- ``payment_page`` on every post, document and late answer: ``"pay"`` for a POST to a URL
  a click on Pay posted to (the Pay submit, and any re-send of it), otherwise the name of
  the first ``payment_pages`` URL pattern the URL matches (``"confirm"``, ``"success"``),
  otherwise ``None``. Hygiene checkers judge only what carries one;
- ``reposted``: true when reload/back/forward made the browser re-send a POST on its own.

A navigation that times out or fails is ``info`` (outcome ``unknown``): the request may
have reached the checkout. Otherwise ``ok``, with ``outcome`` read from the page state.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from harness._redact import redact_text
from harness.browser import LAUNCH_ARGS, find_chromium
from harness.drivers._watch import TabWatch, was_sent
from harness.history import History, Op

DEFAULT_OUTCOMES: dict[str, str] = {
    "success": "success",
    "failed": "failed",
    "declined": "failed",
    "in_progress": "pending",
    "pending": "pending",
}
_HISTORY_MOVES = frozenset({"reload", "back", "forward"})


def launch_chromium(
    playwright: Playwright, executable: str | None = None, extra_args: Sequence[str] = ()
) -> Browser:
    """Start headless Chromium the way every part of the harness does (``extra_args``:
    switches added to :data:`~harness.browser.LAUNCH_ARGS`)."""
    return playwright.chromium.launch(
        executable_path=executable, args=[*LAUNCH_ARGS, *extra_args], headless=True
    )


class BrowserDriver:
    """Drives Chromium tabs against ``base_url`` and records into ``history``."""

    def __init__(
        self,
        history: History,
        base_url: str,
        artifacts_dir: Path | str,
        *,
        javascript_enabled: bool = True,
        markers: Mapping[str, str] | None = None,
        outcomes: Mapping[str, str] | None = None,
        timeout_ms: float = 10_000,
        settle_ms: float = 150,
        screenshot_each: bool = False,
        browser: Browser | None = None,
        payment_pages: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.history = history
        self.base_url = base_url.rstrip("/")
        self.artifacts_dir = Path(artifacts_dir)
        self.javascript_enabled = javascript_enabled
        self.markers = dict(markers or {})
        self.outcomes = dict(DEFAULT_OUTCOMES if outcomes is None else outcomes)
        self.timeout_ms = timeout_ms
        self.settle_ms = settle_ms
        self.screenshot_each = screenshot_each
        self._playwright: Playwright | None = None
        self._browser: Browser | None = browser
        self._owns_browser = browser is None
        self._contexts: dict[str, BrowserContext] = {}
        self._tabs: dict[str, tuple[str, Page, TabWatch]] = {}
        self._tags: dict[str, dict[str, Any]] = {}
        self._opened = 0
        self.payment_pages = [(role, re.compile(regex)) for role, regex in payment_pages]
        """(role, URL pattern) of the pages that show or take a payment."""
        self.pay_urls: set[str] = set()
        """URLs a click on Pay (an operation with ``pay`` set) has posted to."""
        self.current: str | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> BrowserDriver:
        """Launch Chromium, unless a browser was handed in (it is then shared, not owned)."""
        if self._browser is not None:
            return self
        lookup = find_chromium()
        if not lookup.found:
            raise RuntimeError(f"no Chromium to drive: {lookup.explain()}")
        self._playwright = sync_playwright().start()
        self._browser = launch_chromium(self._playwright, lookup.executable)
        return self

    def close(self) -> None:
        for context in self._contexts.values():
            with contextlib.suppress(PlaywrightError):
                context.close()
        if self._browser is not None and self._owns_browser:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None
        self._contexts.clear()
        self._tabs.clear()

    def __enter__(self) -> BrowserDriver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def new_tab(self, user: str = "user-1") -> str:
        """Open a tab for ``user`` (a new browser context on first use); returns its process."""
        if self._browser is None:
            raise RuntimeError("BrowserDriver.start() has not been called")
        context = self._contexts.get(user)
        if context is None:
            context = self._browser.new_context(
                java_script_enabled=self.javascript_enabled, base_url=self.base_url
            )
            context.set_default_timeout(self.timeout_ms)
            context.set_default_navigation_timeout(self.timeout_ms)
            self._contexts[user] = context
        page = context.new_page()
        self._opened += 1
        name = f"tab-{self._opened}"
        self._tabs[name] = (user, page, TabWatch(page))
        self.current = name
        return name

    def close_tab(self, tab: str) -> None:
        """Close a tab (its user's context and other tabs stay)."""
        _, page, _ = self._tabs.pop(tab)
        self._tags.pop(tab, None)
        if self.current == tab:
            self.current = next(reversed(self._tabs), None)
        with contextlib.suppress(PlaywrightError):
            page.close()

    def signed_in(self, user: str) -> bool:
        """Whether ``user`` already has a browser context (and so its cookies)."""
        return user in self._contexts

    def page(self, tab: str | None = None) -> Page:
        return self._tab(tab)[1]

    def user_of(self, tab: str) -> str:
        return self._tab(tab)[0]

    def tag(self, tab: str, **values: Any) -> None:
        """Values recorded with every later operation of ``tab`` (its ``order_id``, say)."""
        self._tags.setdefault(tab, {}).update(values)

    def tags(self, tab: str) -> dict[str, Any]:
        return dict(self._tags.get(tab, {}))

    # -- operations ------------------------------------------------------------------

    def goto(self, url: str, *, tab: str | None = None) -> Op:
        return self._operate(tab, "page_load", lambda page: page.goto(url), {"target": url})

    def click(
        self,
        selector: str,
        *,
        count: int = 1,
        delay_ms: float = 0,
        tab: str | None = None,
        extra: Mapping[str, Any] | None = None,
        once_sent: bool = False,
    ) -> Op:
        """Click ``count`` times on the same spot, ``delay_ms`` apart, without waiting for
        navigations in between: a double-click or an impatient user.

        ``once_sent``: each further click comes as soon as the tab has sent the POST of the
        click before (at most :data:`SENT_WAIT_MS` later): the customer clicks again while
        the first submit is on its way, so both reach the checkout. Without it, a second
        click that comes before the browser has sent the first form replaces that form,
        and the checkout sees one POST only.
        """
        if count < 1:
            raise ValueError(f"click count must be at least 1, not {count}")
        watch = self._tab(tab)[2]

        def action(page: Page) -> None:
            if count == 1:
                page.click(selector)
                return
            target = page.locator(selector).first
            target.scroll_into_view_if_needed()
            box = target.bounding_box()
            if box is None:
                raise PlaywrightError(f"{selector} is not visible")
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            for i in range(count):
                if i and delay_ms:
                    page.wait_for_timeout(delay_ms)
                if i and once_sent:
                    _await_posts(page, watch, sent + i)
                page.mouse.click(x, y)

        sent = len(watch.posts)
        value = {"selector": selector, "count": count, "delay_ms": delay_ms, **(extra or {})}
        if once_sent:
            value["once_sent"] = True
        return self._operate(tab, "click", action, value)

    def wait_until(self, state: str, *, timeout_ms: float, tab: str | None = None) -> Op:
        """Watch the tab until it shows marker ``state``; a timeout completes as ``info``.

        What the page fires and loads meanwhile (a redirect to success, a fetch retry) is
        recorded with the operation like any other.
        """
        name = tab or self.current

        def action(page: Page) -> None:
            deadline = time.monotonic() + timeout_ms / 1000
            while state not in self.page_state(tab=name):
                if time.monotonic() > deadline:
                    raise PlaywrightTimeout(f"the page never showed {state!r} in {timeout_ms} ms")
                page.wait_for_timeout(100)

        return self._operate(name, "wait_state", action, {"want": state}, settle=False)

    def note(
        self,
        f: str,
        value: Mapping[str, Any],
        *,
        tab: str | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> Op:
        """Record an observation that needs no action (an already paid order shows no Pay
        control); ``result`` goes into the completion, after what the driver observed."""
        return self._operate(tab, f, lambda page: None, dict(value), settle=False, result=result)

    def submit(
        self,
        form_selector: str,
        *,
        tab: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op:
        """Submit a form the way a user does: its submit button (works without JavaScript)."""
        button = (
            f"{form_selector} [type=submit], {form_selector} button:not([type=button])"
            f":not([type=reset])"
        )
        action: Callable[[Page], None] = lambda page: page.locator(button).first.click()  # noqa: E731
        value = {"selector": form_selector, **(extra or {})}
        return self._operate(tab, "submit", action, value)

    def back(self, *, tab: str | None = None) -> Op:
        return self._operate(tab, "back", lambda page: page.go_back(), {})

    def forward(self, *, tab: str | None = None) -> Op:
        return self._operate(tab, "forward", lambda page: page.go_forward(), {})

    def reload(self, *, tab: str | None = None) -> Op:
        return self._operate(tab, "reload", lambda page: page.reload(), {})

    def set_offline(self, offline: bool, *, tab: str | None = None) -> Op:
        """Cut or restore the network of the tab's user (all their tabs)."""
        name = tab or self.current
        user = self._tab(name)[0]
        action: Callable[[Page], None] = lambda page: self._contexts[user].set_offline(offline)  # noqa: E731
        return self._operate(name, "set_offline", action, {"offline": offline}, settle=False)

    def screenshot(self, name: str, *, tab: str | None = None) -> str:
        """Save a PNG under ``artifacts_dir/screenshots``; returns the path relative to it."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
        relative = Path("screenshots") / f"{safe}.png"
        (self.artifacts_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        self.page(tab).screenshot(path=str(self.artifacts_dir / relative), full_page=True)
        return relative.as_posix()

    def page_state(
        self, markers: Mapping[str, str] | None = None, *, tab: str | None = None
    ) -> list[str]:
        """Names of the markers the tab matches now, in the order given."""
        page = self.page(tab)
        found = []
        for name, marker in (self.markers if markers is None else markers).items():
            if marker.startswith("url:"):
                if re.search(marker[4:], page.url):
                    found.append(name)
            elif page.locator(marker).count() > 0:
                found.append(name)
        return found

    def payment_role(self, exchange: Mapping[str, Any]) -> str | None:
        """What payment page a recorded request or document is, if any (see the module)."""
        url = str(exchange.get("url") or "")
        if str(exchange.get("method") or "").upper() == "POST" and url in self.pay_urls:
            return "pay"
        for role, pattern in self.payment_pages:
            if pattern.search(url):
                return role
        return None

    # -- recording -------------------------------------------------------------------

    def _tab(self, tab: str | None) -> tuple[str, Page, TabWatch]:
        name = tab or self.current
        if name is None or name not in self._tabs:
            raise KeyError(f"no tab {name!r}; open one with new_tab() (have {list(self._tabs)})")
        return self._tabs[name]

    def _operate(
        self,
        tab: str | None,
        f: str,
        action: Callable[[Page], Any],
        extra: dict[str, Any],
        *,
        settle: bool = True,
        result: Mapping[str, Any] | None = None,
    ) -> Op:
        name = tab or self.current or ""
        user, page, watch = self._tab(name)
        fired_before = len(watch.posts)  # POSTs the tab fired since its previous operation
        value = {"user": user, "url_before": redact_text(page.url), **self.tags(name), **extra}
        invocation = self.history.invoke(name, f, value)
        error: str | None = None
        notes: dict[str, Any] = {}
        try:
            moved = action(page)
            if settle:
                page.wait_for_timeout(self.settle_ms)
                page.wait_for_load_state("load")
            if f in {"back", "forward"} and moved is None:
                notes["no_history"] = True
        except PlaywrightTimeout as exc:
            error = f"timeout: {_first_line(exc)}"
        except PlaywrightError as exc:
            error = f"browser error: {_first_line(exc)}"
        if settle and error is None and page.url.startswith("chrome-error://"):
            error = "navigation failed: the browser shows its error page"
        if settle and error is None:
            error = _failed_form_post(watch.posts[fired_before:])
        notes.update(result or {})
        return self._complete(invocation, name, page, watch, error, notes, fired_before)

    def _complete(
        self,
        invocation: Op,
        name: str,
        page: Page,
        watch: TabWatch,
        error: str | None,
        notes: dict[str, Any],
        fired_before: int = 0,
    ) -> Op:
        posts, documents, late = watch.collect()
        if invocation.value.get("pay"):  # what the click on Pay itself sent
            self.pay_urls.update(str(p["url"]) for p in posts[fired_before:])
        for item in (*posts, *documents, *late):
            item["payment_page"] = self.payment_role(item)
        try:
            states = self.page_state(tab=name)
        except PlaywrightError:
            states = []
        result: dict[str, Any] = {
            "url": redact_text(page.url),
            "page_state": states[0] if states else None,
            "page_states": states,
            "posts": posts,
            "documents": documents,
            "reposted": invocation.f in _HISTORY_MOVES
            and any(p["navigation"] and was_sent(p) for p in posts[fired_before:]),
            **notes,
        }
        if late:
            result["late_answers"] = late
        if documents:
            result["document"] = documents[-1]
        if self.screenshot_each:
            label = f"{invocation.index:05d}-{name}-{invocation.f}"
            with contextlib.suppress(PlaywrightError):
                result["screenshot"] = self.screenshot(label, tab=name)
        status = documents[-1]["status"] if documents else None
        if error is None and status is not None and status >= 500:
            error = f"HTTP {status} on the page"
        if error is not None:
            return self.history.info(invocation, {**result, "outcome": "unknown", "error": error})
        outcome = self.outcomes.get(result["page_state"] or "")
        if outcome is not None and "outcome" not in notes:  # an observation may say its own
            result["outcome"] = outcome
        return self.history.ok(invocation, result)


SENT_WAIT_MS = 2_000
"""How long a click ``once_sent`` waits for the POST of the click before it."""


def _await_posts(page: Page, watch: TabWatch, count: int) -> None:
    """Let the tab's events run until it has fired ``count`` POSTs in this operation, or
    :data:`SENT_WAIT_MS` has passed (the operation's ``posts`` show what was sent)."""
    deadline = time.monotonic() + SENT_WAIT_MS / 1000
    while len(watch.posts) < count and time.monotonic() < deadline:
        page.wait_for_timeout(5)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return redact_text(text[0]) if text else type(exc).__name__


def _failed_form_post(posts: list[dict[str, Any]]) -> str | None:
    """Why the operation's last form POST failed, when it did: the browser may show the
    error page a moment after the failure event, so the event itself is the evidence. An
    ``ERR_ABORTED`` is a form replaced by a later submit (a double-click), not a failure."""
    forms = [p for p in posts if p["navigation"]]
    if not forms or "status" in forms[-1]:
        return None
    failure = str(forms[-1].get("failure") or "")
    if not failure or "ERR_ABORTED" in failure:
        return None
    return f"navigation failed: the form POST failed with {failure}"
