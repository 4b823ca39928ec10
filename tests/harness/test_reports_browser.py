"""Render report.html in a real Chromium: it must display offline, with nothing fetched."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from harness._testing import missing
from harness.browser import LAUNCH_ARGS, find_chromium
from harness.reports import Environment, RunReport, ScenarioRun, Target, write_reports


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\x20\x80\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.browser
def test_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    from playwright.sync_api import sync_playwright

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "shot.png").write_bytes(_png(40, 30))
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    report = RunReport(
        tool_version="0.1.0",
        started=now,
        finished=now,
        target=Target(name="reference", base_url="http://127.0.0.1:1"),
        environment=Environment(python="3.11", platform="linux"),
        runs=[
            ScenarioRun(
                scenario_id="browser.reload",
                title="Reload <b>success</b>",
                threat_id="T5",
                status="passed",
                screenshots=["shot.png"],
            )
        ],
    )
    html = write_reports(report, run_dir)["html"]
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=lookup.executable, args=LAUNCH_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(html.as_uri())
            assert page.get_by_test_id("passed").inner_text() == "1"
            assert page.locator("h3", has_text="Reload <b>success</b>").count() == 1
            image = page.locator("img.shot")
            assert image.evaluate("img => img.complete && img.naturalWidth") == 40
            page.screenshot(path=str(run_dir / "report.png"), full_page=True)
        finally:
            browser.close()
    assert (run_dir / "report.png").stat().st_size > 1000
    assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []


@pytest.mark.browser
@pytest.mark.parametrize("failing", [True, False], ids=["failing", "passing"])
def test_first_screen_says_the_verdict_and_what_went_wrong(tmp_path: Path, failing: bool) -> None:
    """What an auditor sees without scrolling, in a real Chromium at 1280x800."""
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    from playwright.sync_api import sync_playwright
    from test_reports_story import double_charged, plain, report

    runs = [plain("api.one"), double_charged()] if failing else [plain("api.one")]
    html = write_reports(report(*runs, profile="shop.toml"), tmp_path)["html"]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=lookup.executable, args=LAUNCH_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(html.as_uri())
            headline = page.get_by_test_id("verdict")
            assert headline.is_visible() and headline.bounding_box()["y"] < 800  # type: ignore[index]
            if failing:
                assert headline.inner_text() == "FAILED: money lost or at risk"
                assert page.get_by_test_id("money-twice").inner_text() == "1"
                # the amount in its currency: three charges of 25.00 USD, none added across
                assert page.get_by_test_id("money-amount").inner_text() == "75.00 USD"
                finding = page.get_by_test_id("finding").first
                assert finding.bounding_box()["y"] < 800  # type: ignore[index]
                said = finding.inner_text()
                assert "order ord_1 was charged twice" in said
                # each charge with the client step behind it
                assert "le_1 at 08:00:00.200 by the confirm with key k1 (op #0)" in said
                assert "le_2 at 08:00:01.050 by the retry with key k1 (op #4)" in said
                # the coverage matrix: an invariant's link lands on its verdict row, a
                # threat's link on its row with the threat's text, inside the page
                link = page.locator("#coverage a.valid-false").first
                target = link.get_attribute("href")
                assert target and page.locator(target).count() == 1
                top = "e => e.getBoundingClientRect().top"
                assert page.locator(target).evaluate(top) > 800  # below the first screen
                link.click()
                assert 0 <= page.locator(target).evaluate(top) < 800  # scrolled into view
                threat = page.locator("section.s-failed a[href^='#threat-']").first
                target = threat.get_attribute("href")
                assert target and page.locator(target).count() == 1
                assert page.get_by_test_id("reproduce").first.inner_text() == (
                    "nodouble run --target shop.toml --scenario provider.lost_response --seed 7"
                )
                diagram = page.locator("section.s-failed svg.seq")
                assert diagram.is_visible()  # opened for a failed run, drawn without script
                assert diagram.locator("circle.twice").count() == 2
            else:
                assert headline.inner_text() == "PASSED: no money lost or at risk"
                assert page.get_by_test_id("finding").count() == 0
            page.screenshot(path=str(tmp_path / "first-screen.png"))
        finally:
            browser.close()
    assert (tmp_path / "first-screen.png").stat().st_size > 5000


@pytest.mark.browser
def test_screenshots_of_a_report_are_written_beside_it(tmp_path: Path) -> None:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    from test_reports_story import double_charged, plain, report

    from harness.reports._images import capture

    html = write_reports(report(plain("api.one"), double_charged()), tmp_path)["html"]
    first, sequence = capture(html, lookup.executable)
    for image in (first, sequence):
        assert image.read_bytes().startswith(b"\x89PNG") and image.stat().st_size > 3000
