"""The gallery's server-rendered form shop (no JSON API), judged by the browser scenarios.

``tests/gallery/form_shop`` signs in with a form, checks out with a form POST that
redirects to a pay page carrying the order id, pays with a form holding a one-time token,
redirects to a receipt, and shows an order's paid state on a page of its own, which the
profile's ``[browser.read_order]`` reads back. The table says what ``nodouble run`` must
answer for each variant; see ``form_shop/app.py`` for how each broken variant is broken.

Needs Chromium (``make browser``).
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import pytest
from _gallery import GALLERY, RunResult
from _rows import Row, assert_row, need, selected, start_rows

from harness.browser import find_chromium

SHOP = GALLERY / "form_shop"
MONEY = "at_most_one_charge"

CORRECT = ("one token per order, a lock per order, a paid order never charged again, PRG, "
           "Pay disabled once the form is sent")  # fmt: skip

# The correct shop meets all eleven server-rendered scenarios in one run (split into
# several runs side by side it took longer: each run starts its own Chromium on 2 cores).
ROWS = (
    Row("", "browser.*_ssr", 0, why=CORRECT),
    Row("no_prg", "browser.reload_success_ssr", 1, MONEY,
        why="the receipt is the answer to the POST: each reload re-sends it and charges"),
    Row("no_button_guard", "browser.impatient_clicks_ssr", 1, MONEY,
        why="Pay stays enabled and the server charges every POST with the order's token"),
    Row("token_per_render", "browser.brief_back_confirm_again_ssr", 1, MONEY,
        why="Back re-renders the pay page with a fresh token, and Pay charges again"),
)  # fmt: skip


@pytest.fixture(scope="module")
def verdicts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[Row, Future[RunResult]]:
    lookup = find_chromium()
    need(lookup.found, f"no Chromium ({lookup.explain()}; make browser installs it)")
    workdir = Path(tmp_path_factory.mktemp("forms"))
    return start_rows(selected(request, ROWS), SHOP / "form_shop.toml.in", workdir, browser=True)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_form_shop_verdict(row: Row, verdicts: dict[Row, Future[RunResult]]) -> None:
    assert_row(row, verdicts[row].result())
