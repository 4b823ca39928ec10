"""The fake's clock: moved forward through the control API, read by key expiry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fake_provider._clock import Clock
from fake_provider.client import FakeProviderClient, FakeProviderError
from harness.cli import app

FORM = {"amount": "500", "currency": "usd", "metadata[order_id]": "clock-1",
        "payment_method": "pm_card_visa", "confirm": "true"}  # fmt: skip


def _pay(api: httpx.Client, key: str) -> httpx.Response:
    response = api.post("/v1/payment_intents", data=FORM, headers={"Idempotency-Key": key})
    assert response.status_code == 200, response.text
    return response


def test_clock_starts_at_wall_time_and_moves_forward(fake: FakeProviderClient) -> None:
    assert fake.clock()["offset_s"] == 0
    moved = fake.advance_clock(3600)
    assert moved["offset_s"] == 3600
    assert fake.advance_clock(0.5)["offset_s"] == 3600.5
    fake.reset()
    assert fake.clock()["offset_s"] == 0


@pytest.mark.parametrize("body", [{"advance_s": -1}, {"advance_s": "1"}, {"advance_s": True},
                                  {"advance_s": 1e12}, {"back_s": 1}, {}])  # fmt: skip
def test_bad_clock_changes_are_refused(fake: FakeProviderClient, body: dict[str, object]) -> None:
    response = httpx.post(f"{fake.base_url}/_fake/clock", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "advance_s" in response.json()["detail"]
    assert fake.clock()["offset_s"] == 0


def test_a_key_replays_before_the_ttl_and_executes_anew_after(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    first = _pay(api, "clock-key")
    fake.advance_clock(86400 - 60)
    again = _pay(api, "clock-key")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    fake.advance_clock(61)
    anew = _pay(api, "clock-key")
    assert "Idempotent-Replayed" not in anew.headers
    assert anew.json()["id"] != first.json()["id"]
    assert fake.summary()["keys"]["clock-1"]["charges"] == 2


def test_fault_hits_are_stamped_by_the_clock(api: httpx.Client, fake: FakeProviderClient) -> None:
    now = fake.advance_clock(1000)["now"]
    fake.set_fault("delay", "POST /v1/payment_intents", delay_ms=1)
    _pay(api, "clock-hit")
    assert fake.faults()[0]["hits"][0]["at"] >= now


def test_clock_unit() -> None:
    clock = Clock()
    with pytest.raises(ValueError, match="advance_s"):
        clock.advance(float("nan"))
    before = clock.now()
    clock.advance(10)
    assert clock.now() - before >= 10


# -- `nodouble provider --key-ttl` ---------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "nan", ""])
def test_bad_key_ttl_is_one_line_exit_2(value: str) -> None:
    result = CliRunner().invoke(app, ["provider", "--port", "0", "--key-ttl", value])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--key-ttl" in lines[0] and repr(value) in lines[0]


@pytest.fixture
def cli_provider() -> Iterator[str]:
    """``nodouble provider --port 0 --key-ttl 30`` as a real process; yields its URL."""
    nodouble = Path(sys.executable).with_name("nodouble")
    command = [str(nodouble), "provider", "--port", "0", "--key-ttl", "30"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert first.startswith("Fake Stripe provider listening on "), first
            yield first.rsplit(" ", 1)[1].strip()
        finally:
            process.terminate()
            process.wait(10)


def test_key_ttl_of_the_command_line_server(cli_provider: str) -> None:
    headers = {"Authorization": "Bearer sk_test_nodouble"}
    with (
        httpx.Client(base_url=cli_provider, headers=headers, timeout=10) as api,
        FakeProviderClient(cli_provider) as fake,
    ):
        first = _pay(api, "cli-key")
        fake.advance_clock(29)
        assert _pay(api, "cli-key").headers["Idempotent-Replayed"] == "true"
        fake.advance_clock(2)
        assert _pay(api, "cli-key").json()["id"] != first.json()["id"]
        with pytest.raises(FakeProviderError, match="advance_s"):
            fake.advance_clock(-1)
