"""One Chromium, driven from several threads at once.

Playwright's sync API belongs to the thread that started it: a thread may drive only the
browsers its own ``sync_playwright()`` instance opened. To run browser scenarios side by
side in *one* Chromium, the thread that launches it (the host) also opens a DevTools port
on the loopback interface, and every other thread starts its own Playwright instance and
attaches to that port with ``connect_over_cdp``. Each scenario run still gets browser
contexts of its own (cookies, storage, cache), so runs share the browser process and
nothing else.

The launch is the one every part of the harness uses (:func:`launch_chromium`: the same
executable, flags and headless mode) plus ``--remote-debugging-port``. Before a thread
drives anything through the port it checks that the browser answering there is the one
the host launched (the same browser process id): a port taken meanwhile by another
program fails loudly instead of driving somebody else's browser.

One side effect, from how Playwright attaches over CDP: an attached instance also sees the
pages of the other threads' contexts (as pages of its default context, which the harness
never uses) and listens to their events. Each run drives only pages of the contexts it
created; the cost is some DevTools traffic per extra thread.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from playwright.sync_api import Browser, Playwright, sync_playwright

from harness.drivers.browser import launch_chromium


@dataclass(frozen=True)
class Endpoint:
    """Where other threads attach to the shared Chromium, and how they recognise it."""

    url: str
    """``http://127.0.0.1:<port>``: Playwright reads the WebSocket address from it."""
    pid: int
    """The browser process id the host sees."""


def launch_shared(playwright: Playwright, executable: str | None) -> tuple[Browser, Endpoint]:
    """Launch Chromium from this thread with a DevTools port other threads can attach to."""
    port = _free_port()
    browser = launch_chromium(
        playwright,
        executable,
        extra_args=(f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1"),
    )
    return browser, Endpoint(f"http://127.0.0.1:{port}", browser_pid(browser))


def attach(endpoint: Endpoint) -> tuple[Playwright, Browser]:
    """Start a Playwright instance for this thread and attach it to the shared Chromium."""
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.connect_over_cdp(endpoint.url)
        seen = browser_pid(browser)
        if seen != endpoint.pid:
            browser.close()
            raise RuntimeError(
                f"the browser at {endpoint.url} is process {seen}, not the Chromium this run "
                f"launched ({endpoint.pid}): the DevTools port was taken by another program"
            )
    except BaseException:
        playwright.stop()
        raise
    return playwright, browser


def browser_pid(browser: Browser) -> int:
    """The id of the browser process behind ``browser`` (DevTools ``SystemInfo``)."""
    session = browser.new_browser_cdp_session()
    try:
        info = session.send("SystemInfo.getProcessInfo")
    finally:
        session.detach()
    for process in info.get("processInfo", []):
        if process.get("type") == "browser":
            return int(process["id"])
    raise RuntimeError("Chromium did not report its browser process")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
