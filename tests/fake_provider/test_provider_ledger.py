"""Ledger and request log positions: ``seq``, cursors, ``after_seq``, and what a reset keeps."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess

PAY = {
    "amount": "1200",
    "currency": "usd",
    "metadata[order_id]": "s-1",
    "payment_method": "pm_card_visa",
    "confirm": "true",
}


def _pay(api: httpx.Client, order: str) -> httpx.Response:
    response = api.post("/v1/payment_intents", data={**PAY, "metadata[order_id]": order})
    assert response.status_code == 200, response.text
    return response


def test_ledger_lines_count_up_and_after_seq_reads_past_a_cursor(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    start = fake.ledger_cursor()
    _pay(api, "s-1")
    rows = fake.ledger()
    assert [(r["kind"], r["seq"]) for r in rows] == [("attempt", start + 1), ("charge", start + 2)]
    assert rows[1]["id"] == f"le_{start + 2:08d}"
    cursor = fake.ledger_cursor()
    assert cursor == start + 2 and fake.ledger(after_seq=cursor) == []
    _pay(api, "s-2")
    api.post("/v1/payment_intents", data={**PAY, "payment_method": "pm_card_chargeDeclined"})
    later = fake.ledger(after_seq=cursor)
    assert [(r["kind"], r["metadata"]["order_id"]) for r in later] == [
        ("attempt", "s-2"),
        ("charge", "s-2"),
        ("attempt", "s-1"),
        ("decline", "s-1"),
    ]
    assert [r["seq"] for r in later] == list(range(cursor + 1, cursor + 5))
    assert [r["seq"] for r in fake.ledger(after_seq=cursor, kind="charge")] == [cursor + 2]
    assert fake.ledger(after_seq=cursor, field="order_id", value="s-1", kind="charge") == []
    assert len(fake.ledger(after_seq=0)) == 6


def test_request_log_counts_up_and_after_seq_reads_past_a_cursor(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    start = fake.requests_cursor()
    paid = _pay(api, "s-1")
    log = fake.requests()
    assert [r["seq"] for r in log] == [start + 1]
    assert log[0]["request_id"] == paid.headers["Request-Id"] and log[0]["money"] is True
    cursor = fake.requests_cursor()
    assert cursor == start + 1 and fake.requests(after_seq=cursor) == []
    api.get(f"/v1/payment_intents/{paid.json()['id']}")
    api.post("/v1/payment_intents", data={"amount": "0", "currency": "usd"})  # refused: 400
    later = fake.requests(after_seq=cursor)
    assert [(r["seq"], r["method"], r["status"], r["money"]) for r in later] == [
        (cursor + 1, "GET", 200, False),
        (cursor + 2, "POST", 400, False),
    ]


def test_reset_forgets_rows_but_never_moves_a_cursor_back(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    _pay(api, "s-1")
    ledger_before, requests_before = fake.ledger_cursor(), fake.requests_cursor()
    fake.reset()
    assert fake.ledger() == [] and fake.requests() == []
    assert (fake.ledger_cursor(), fake.requests_cursor()) == (ledger_before, requests_before)
    _pay(api, "s-9")
    assert [r["seq"] for r in fake.ledger(after_seq=ledger_before)] == [
        ledger_before + 1,
        ledger_before + 2,
    ]
    assert [r["seq"] for r in fake.requests(after_seq=requests_before)] == [requests_before + 1]


@pytest.mark.parametrize("bad", ["-1", "x", "1.5", "٣"])
def test_after_seq_must_be_a_count(fake_server: ServerProcess, bad: str) -> None:
    for path in ("/_fake/ledger", "/_fake/requests"):
        response = httpx.get(f"{fake_server.url}{path}", params={"after_seq": bad})
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "after_seq" in response.json()["detail"]


def test_ledger_seq_survives_a_restart_and_a_reset_before_it(tmp_path: Path) -> None:
    env = {"NODOUBLE_FAKE_STATE": str(tmp_path / "fake.sqlite3")}
    auth = {"Authorization": "Bearer sk_test_nodouble"}

    def pay(server: ServerProcess) -> None:
        paid = httpx.post(f"{server.url}/v1/payment_intents", data=PAY, headers=auth)
        assert paid.status_code == 200

    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        pay(server)
        with FakeProviderClient(server.url) as fake:
            assert [r["seq"] for r in fake.ledger()] == [1, 2]
        server.kill()  # no graceful shutdown: the lines and their seq are already on disk
    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        with FakeProviderClient(server.url) as fake:
            assert [r["seq"] for r in fake.ledger()] == [1, 2] and fake.ledger_cursor() == 2
            fake.reset()
        server.kill()
    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        with FakeProviderClient(server.url) as fake:
            assert fake.ledger() == [] and fake.ledger_cursor() == 2
        pay(server)
        with FakeProviderClient(server.url) as fake:
            assert [r["seq"] for r in fake.ledger(after_seq=2)] == [3, 4]
