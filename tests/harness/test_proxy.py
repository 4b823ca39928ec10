"""The network fault proxy in front of a real server that counts what it receives."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from _apps import server

from harness._process import ServerProcess
from harness.drivers.api import ApiDriver
from harness.faults.proxy import FaultProxy, ProxyRule
from harness.history import History


@pytest.fixture(scope="module")
def app() -> Iterator[ServerProcess]:
    with server() as proc:
        yield proc


@pytest.fixture
def proxy(app: ServerProcess) -> Iterator[FaultProxy]:
    httpx.post(app.url + "/reset")
    with FaultProxy(app.url, History()) as prx:
        yield prx


def _count(app: ServerProcess, key: str) -> int:
    counts: dict[str, int] = httpx.get(app.url + "/stats").json()["counts"]
    return counts.get(key, 0)


def test_pass_through_keeps_status_body_and_headers(proxy: FaultProxy, app: ServerProcess) -> None:
    with httpx.Client(base_url=proxy.url, timeout=5) as client:
        first = client.post("/status/402", json={"a": 1})
        second = client.post("/echo", content=b"hello")  # a second request, same client
    assert first.status_code == 402 and first.json()["status"] == 402
    assert first.headers["connection"] == "close"
    assert second.json()["body"] == "hello"
    assert [e["action"] for e in proxy.log] == ["pass", "pass"]
    assert proxy.log[0]["upstream_statuses"] == [402] and proxy.log[0]["client_status"] == 402


def test_drop_response_hides_a_processed_request(proxy: FaultProxy, app: ServerProcess) -> None:
    proxy.drop_response("POST", r"^/api/pay$")
    with pytest.raises(httpx.TransportError):
        httpx.post(proxy.url + "/api/pay", timeout=5)
    assert _count(app, "POST /api/pay") == 1  # the server did it; the client never heard
    assert proxy.log[-1]["action"] == "drop_response"
    assert proxy.log[-1]["upstream_statuses"] == [200]
    assert proxy.log[-1]["client_status"] is None
    # count=1: the next request passes.
    assert httpx.post(proxy.url + "/api/pay", timeout=5).status_code == 200
    assert _count(app, "POST /api/pay") == 2


def test_dropped_response_is_info_for_the_api_driver(proxy: FaultProxy, app: ServerProcess) -> None:
    proxy.drop_response(None, "/api/pay")
    with ApiDriver(proxy.url, History()) as drv:
        op = drv.request("confirm", "POST", "/api/pay", json={}, order_id="o1")
    assert op.type == "info" and op.value["outcome"] == "unknown"
    assert _count(app, "POST /api/pay") == 1


def test_duplicate_request_reaches_the_server_twice(proxy: FaultProxy, app: ServerProcess) -> None:
    proxy.duplicate_request("POST", "/api/pay", count=1)
    response = httpx.post(proxy.url + "/api/pay", timeout=5)
    assert response.status_code == 200 and response.json() == {"paid": True}
    assert _count(app, "POST /api/pay") == 2
    assert proxy.log[-1]["upstream_statuses"] == [200, 200]


def test_delay_response(proxy: FaultProxy, app: ServerProcess) -> None:
    started = time.monotonic()
    httpx.get(proxy.url + "/healthz", timeout=5)
    baseline = time.monotonic() - started
    proxy.delay_response(400, "GET", "/healthz")
    started = time.monotonic()
    response = httpx.get(proxy.url + "/healthz", timeout=5)
    delayed = time.monotonic() - started
    assert response.status_code == 200
    assert delayed >= 0.4 > baseline
    assert [e["action"] for e in proxy.log] == ["pass", "delay_response"]


def test_rules_match_method_and_path(proxy: FaultProxy, app: ServerProcess) -> None:
    proxy.drop_response("POST", r"^/status/500$", count=None)
    assert httpx.get(proxy.url + "/status/500", timeout=5).status_code == 500  # method differs
    assert httpx.post(proxy.url + "/status/200", timeout=5).status_code == 200  # path differs
    for _ in range(2):  # count=None: every match
        with pytest.raises(httpx.TransportError):
            httpx.post(proxy.url + "/status/500", timeout=5)
    proxy.clear()
    assert httpx.post(proxy.url + "/status/500", timeout=5).status_code == 500


def test_faults_are_recorded_as_nemesis_ops(proxy: FaultProxy) -> None:
    proxy.delay_response(10, None, "/x", count=3)
    proxy.clear()
    assert proxy.history is not None
    ops = proxy.history.ops
    assert [(o.type, o.f, o.process) for o in ops] == [
        ("invoke", "start_fault", "nemesis"),
        ("ok", "start_fault", "nemesis"),
        ("invoke", "stop_fault", "nemesis"),
        ("ok", "stop_fault", "nemesis"),
    ]
    assert ops[1].value["action"] == "delay_response" and ops[1].value["count"] == 3
    assert ops[3].value["removed"] == 1


def test_unreachable_upstream_is_502() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with FaultProxy(f"http://127.0.0.1:{port}") as proxy:
        response = httpx.get(proxy.url + "/", timeout=5)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "upstream" in response.json()["detail"]


def test_bad_requests_and_bad_rules(proxy: FaultProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    with pytest.raises(ValueError, match="unknown proxy action"):
        ProxyRule("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="upstream must be"):
        FaultProxy("ftp://example")
