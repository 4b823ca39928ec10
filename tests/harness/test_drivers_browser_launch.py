"""The browser driver launching and closing its own Chromium (no shared browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _apps import server

from harness._process import ServerProcess
from harness._testing import missing
from harness.browser import find_chromium
from harness.drivers.browser import BrowserDriver
from harness.history import History

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app() -> Iterator[ServerProcess]:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    with server() as proc:
        yield proc


def test_driver_owns_its_browser(app: ServerProcess, tmp_path: Path) -> None:
    history = History()
    driver = BrowserDriver(history, app.url, tmp_path, markers={"confirm": "#confirm"})
    with pytest.raises(RuntimeError, match="start"):
        driver.new_tab()
    with driver:
        driver.new_tab()
        op = driver.goto(app.url + "/checkout")
        assert op.type == "ok" and op.value["page_state"] == "confirm"
        with pytest.raises(ValueError, match="at least 1"):
            driver.click("#pay", count=0)
    assert driver._browser is None
    assert [o.type for o in history.ops] == ["invoke", "ok"]
