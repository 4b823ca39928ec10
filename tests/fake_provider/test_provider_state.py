"""SQLite state survives a restart; the app also runs in-process; the demo passes."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from fake_provider.app import ProviderConfig, create_app
from fake_provider.client import FakeProviderClient
from fake_provider.demo import run_demo
from fake_provider.server import banner
from harness._process import ServerProcess

AUTH = {"Authorization": "Bearer sk_test_nodouble"}
FORM = {
    "amount": "300",
    "currency": "eur",
    "metadata[order_id]": "p-1",
    "payment_method": "pm_card_visa",
    "confirm": "true",
}


def test_sqlite_state_survives_a_restart(tmp_path: Path) -> None:
    env = {"NODOUBLE_FAKE_STATE": str(tmp_path / "fake.sqlite3")}
    headers = {**AUTH, "Idempotency-Key": "persist"}
    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        first = httpx.post(f"{server.url}/v1/payment_intents", data=FORM, headers=headers)
        assert first.status_code == 200
        server.kill()  # no graceful shutdown: every change must already be on disk
    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        again = httpx.post(f"{server.url}/v1/payment_intents", data=FORM, headers=headers)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        got = httpx.get(f"{server.url}/v1/payment_intents/{first.json()['id']}", headers=AUTH)
        assert got.json()["status"] == "succeeded"
        with FakeProviderClient(server.url) as fake:
            assert [e["kind"] for e in fake.ledger()] == ["attempt", "charge"]
            assert fake.summary()["keys"]["p-1"]["charges"] == 1


def test_key_ttl_from_the_environment_expires_keys() -> None:
    env = {"NODOUBLE_FAKE_KEY_TTL": "0.3", "NODOUBLE_FAKE_STATE": ""}
    headers = {**AUTH, "Idempotency-Key": "short"}
    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        first = httpx.post(f"{server.url}/v1/payment_intents", data=FORM, headers=headers)
        replay = httpx.post(f"{server.url}/v1/payment_intents", data=FORM, headers=headers)
        assert replay.headers["Idempotent-Replayed"] == "true"
        time.sleep(0.4)
        fresh = httpx.post(f"{server.url}/v1/payment_intents", data=FORM, headers=headers)
        assert "Idempotent-Replayed" not in fresh.headers
        assert fresh.json()["id"] != first.json()["id"]


def test_runs_in_process_as_asgi() -> None:
    async def scenario() -> tuple[int, int, dict[str, object]]:
        app = create_app(ProviderConfig())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            health = await client.get("/healthz")
            paid = await client.post("/v1/payment_intents", data=FORM, headers=AUTH)
            summary = (await client.get("/_fake/summary")).json()
        return health.status_code, paid.status_code, summary

    health, paid, summary = asyncio.run(scenario())
    assert (health, paid, summary["total_charges"]) == (200, 200, 1)


def test_demo_shows_one_charge_and_banner_names_the_key() -> None:
    out = io.StringIO()
    assert run_demo(Console(file=out, width=120)) == 0
    text = out.getvalue()
    assert "charged exactly once" in text and "true" in text
    shown = banner("http://127.0.0.1:1", None)
    assert "sk_test_nodouble" in shown and "whsec_" in shown


def test_server_on_port_0_prints_the_real_port(tmp_path: Path) -> None:
    state = tmp_path / "cli.sqlite3"
    cmd = [sys.executable, "-m", "fake_provider.server", "--port", "0", "--state", str(state)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        lines = [first] + [proc.stdout.readline() for _ in range(5)]
        url = first.rsplit(" ", 1)[1].strip()
        port = int(url.rsplit(":", 1)[1])
        assert port != 0
        assert any("whsec_nodouble_dev" in line for line in lines)
        assert any(str(state) in line for line in lines)
        deadline = time.monotonic() + 10
        while True:
            try:
                assert httpx.get(f"{url}/healthz").status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        paid = httpx.post(f"{url}/v1/payment_intents", data=FORM, headers=AUTH)
        assert paid.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert state.exists()
