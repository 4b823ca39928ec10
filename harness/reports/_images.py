"""Pictures of a report, for READMEs and tickets: its first screen and one sequence diagram."""

from __future__ import annotations

from pathlib import Path

from harness.browser import LAUNCH_ARGS

WIDTH, HEIGHT = 1280, 900


def capture(html: Path, chromium: str | None) -> list[Path]:
    """``first-screen.png`` (the page as it opens at 1280x900) and ``sequence.png`` (the first
    failing run's diagram, else the first run's), beside ``html``."""
    from playwright.sync_api import sync_playwright

    first, sequence = html.parent / "first-screen.png", html.parent / "sequence.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            page.goto(html.resolve().as_uri())
            page.screenshot(path=str(first))
            failed = page.locator("section.s-failed svg.seq, section.s-error svg.seq")
            diagram = failed.first if failed.count() else page.locator("svg.seq").first
            diagram.evaluate("svg => svg.closest('details').open = true")
            diagram.screenshot(path=str(sequence))
        finally:
            browser.close()
    return [first, sequence]
