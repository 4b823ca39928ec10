"""Provider faults through the fake provider's control API (a stand-in server here)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _apps import server

from harness._process import ServerProcess
from harness.faults.provider import FaultError, ProviderFaults
from harness.history import History


@pytest.fixture(scope="module")
def app() -> Iterator[ServerProcess]:
    with server() as proc:
        yield proc


@pytest.fixture
def faults(app: ServerProcess) -> Iterator[ProviderFaults]:
    httpx.delete(app.url + "/_fake/faults")
    with ProviderFaults(app.url, History()) as pf:
        yield pf


def test_start_and_stop_send_the_contract_body(faults: ProviderFaults) -> None:
    op = faults.start("POST /v1/payment_intents", "error_after", status=500, count=1, seed=7)
    assert op is not None and op.type == "ok" and op.f == "start_fault" and op.process == "nemesis"
    assert faults.active() == [
        {
            "endpoint": "POST /v1/payment_intents",
            "mode": "error_after",
            "status": 500,
            "count": 1,
            "seed": 7,
        }
    ]
    assert op.value["fault"] == "provider" and op.value["mode"] == "error_after"
    stop = faults.stop()
    assert stop is not None and stop.type == "ok" and stop.f == "stop_fault"
    assert faults.active() == []


def test_context_manager_clears_even_on_error(faults: ProviderFaults) -> None:
    with pytest.raises(RuntimeError, match="inside"), faults.fault("*", "delay", delay_ms=50):
        assert len(faults.active()) == 1
        raise RuntimeError("inside")
    assert faults.active() == []


def test_bad_faults_are_refused_clearly(faults: ProviderFaults) -> None:
    with pytest.raises(ValueError, match="unknown provider fault mode 'bogus'"):
        faults.start("*", "bogus")
    with pytest.raises(ValueError, match="probability"):
        faults.start("*", "delay", probability=2)
    with pytest.raises(ValueError, match="count"):
        faults.start("*", "delay", count=0)
    assert faults.history is not None and faults.history.ops == []


def test_a_refusing_provider_is_info_and_raises(app: ServerProcess) -> None:
    history = History()
    with ProviderFaults(app.url, history) as pf, pytest.raises(FaultError, match="HTTP 400"):
        pf._send("POST", {"endpoint": "*", "mode": "bogus"})
    down = ProviderFaults("http://127.0.0.1:1", history)
    with down, pytest.raises(FaultError, match="unreachable"):
        down.start("*", "delay", delay_ms=10)
    assert [(o.type, o.f) for o in history.ops] == [
        ("invoke", "start_fault"),
        ("info", "start_fault"),
    ]
    assert "unreachable" in history.ops[1].value["error"]


def test_round_trip_with_the_real_fake_provider() -> None:
    """The contract itself: the fake provider takes exactly what ProviderFaults sends."""
    history = History()
    with (
        ServerProcess("fake_provider.app:create_app") as fake,
        ProviderFaults(fake.url, history) as pf,
    ):
        pf.start("POST /v1/payment_intents/*/confirm", "error_after", status=502, count=2)
        pf.start("*", "delay", delay_ms=5, probability=0.5, seed=1)
        active = pf.active()
        assert [(f["endpoint"], f["mode"], f["count"]) for f in active] == [
            ("POST /v1/payment_intents/*/confirm", "error_after", 2),
            ("*", "delay", None),
        ]
        assert active[0]["status"] == 502 and active[1]["probability"] == 0.5
        with pytest.raises(FaultError, match="HTTP 400"):
            pf.start("*", "error_before", status=418)  # the provider's own validation
        pf.stop()
        assert pf.active() == []
    assert [o.type for o in history.completions()] == ["ok", "ok", "info", "ok"]
