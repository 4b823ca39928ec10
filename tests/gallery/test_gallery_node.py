"""The gallery's Node.js checkout (Express and the official ``stripe`` package), judged.

``tests/gallery/node_shop`` pays in two provider calls (create the PaymentIntent, then
confirm it) through stripe-node, with its own paths, its own idempotency header
(``X-Dedupe-Token``), its own metadata key (``purchase_ref``) and its own test API key. The
table says what ``nodouble run`` must answer for each variant; see ``node_shop/server.js``
for how each broken variant is broken.

Needs ``node`` and the shop's packages (``make node-shop``, which runs ``npm ci``).
"""

from __future__ import annotations

import shutil
from concurrent.futures import Future
from pathlib import Path

import pytest
from _gallery import GALLERY, RunResult
from _rows import Row, assert_row, need, selected, start_rows

SHOP = GALLERY / "node_shop"
MONEY = "at_most_one_charge"

ROWS = (
    Row("", "api.*", 0, why="dedupes per (user, token) with the body's fingerprint",
        args=("--race-repeat", "1")),
    Row("", "provider.*", 0, why="keeps an unknown outcome and settles it from the provider"),
    Row("", "process.*", 0, why="writes its state before each provider call; reconciles"),
    Row("no_dedupe", "api.same_key_sequential", 1, MONEY,
        why="a repeated request is a new payment, under a key stripe-node makes up"),
    Row("no_dedupe", "api.duplicate_delivery", 1, MONEY,
        why="the request the network delivers twice is paid twice"),
    Row("release_on_error", "provider.error_after_charge", 1, MONEY,
        why="the provider charged and answered 500; the retry starts a new attempt"),
    Row("release_on_error", "provider.timeout_after_charge", 1, MONEY,
        why="stripe-node times out while the provider holds its answer; the retry pays again"),
)  # fmt: skip


@pytest.fixture(scope="module")
def verdicts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[Row, Future[RunResult]]:
    need(shutil.which("node") is not None, "node is not installed (make node-shop installs it)")
    need((SHOP / "node_modules" / "stripe").is_dir(),
         "node_shop has no node_modules (run make node-shop: npm ci)")  # fmt: skip
    workdir = Path(tmp_path_factory.mktemp("node"))
    return start_rows(selected(request, ROWS), SHOP / "node_shop.toml.in", workdir)


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_node_shop_verdict(row: Row, verdicts: dict[Row, Future[RunResult]]) -> None:
    assert_row(row, verdicts[row].result())
