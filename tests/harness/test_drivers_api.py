"""The API driver against a real uvicorn process: classification, redaction, bursts."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
from _apps import server

from harness._process import ServerProcess
from harness.drivers.api import ApiDriver, RequestSpec, classify
from harness.history import History


@pytest.fixture(scope="module")
def app() -> Iterator[ServerProcess]:
    with server() as proc:
        yield proc


@pytest.fixture
def driver(app: ServerProcess) -> Iterator[ApiDriver]:
    httpx.post(app.url + "/reset")
    with ApiDriver(app.url, History(), timeout=5.0, user="alice") as drv:
        yield drv


@pytest.mark.parametrize(
    ("status", "type_", "outcome"),
    [
        (200, "ok", "success"),
        (201, "ok", "success"),
        (303, "ok", "success"),
        (202, "info", "pending"),
        (409, "info", "pending"),
        (400, "fail", "failed"),
        (402, "fail", "failed"),
        (422, "fail", "failed"),
        (500, "info", "unknown"),
        (503, "info", "unknown"),
    ],
)
def test_status_is_classified(driver: ApiDriver, status: int, type_: str, outcome: str) -> None:
    op = driver.request("confirm", "POST", f"/status/{status}", json={"a": 1}, order_id="o1")
    assert (op.type, op.value["outcome"]) == (type_, outcome)
    assert op.value["response"]["status"] == status
    assert op.value["order_id"] == "o1" and op.value["user"] == "alice"
    assert ("error" in op.value) == (type_ == "info")
    invoke, completion = driver.history.pairs()[-1]
    assert completion == op and invoke.type == "invoke" and invoke.time_ns <= op.time_ns


def test_classify_covers_every_4xx_but_409() -> None:
    assert classify(404) == ("fail", "failed")
    assert classify(401) == ("fail", "failed")
    assert classify(409) == ("info", "pending")


def test_timeout_is_info_and_the_server_still_got_it(driver: ApiDriver, app: ServerProcess) -> None:
    op = driver.request("confirm", "POST", "/slow?ms=3000", json={}, timeout=1.0)
    assert op.type == "info"
    assert op.value["outcome"] == "unknown"
    assert "timeout" in op.value["error"]
    assert "response" not in op.value
    assert httpx.get(app.url + "/stats").json()["counts"]["POST /slow"] == 1


def test_dropped_connection_is_info() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept_and_hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)  # the request arrived: the server may have acted on it
        conn.close()

    thread = threading.Thread(target=accept_and_hang_up, daemon=True)
    thread.start()
    with ApiDriver(f"http://127.0.0.1:{port}", History()) as drv:
        op = drv.request("confirm", "POST", "/pay", json={"x": 1})
    thread.join(5)
    listener.close()
    assert op.type == "info"
    assert op.value["outcome"] == "unknown"
    assert "connection error" in op.value["error"]
    assert "sent" not in op.value


def test_refused_connection_is_info_marked_not_sent() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with ApiDriver(f"http://127.0.0.1:{port}", History()) as drv:
        op = drv.request("confirm", "POST", "/pay")
    assert op.type == "info" and op.value["sent"] is False


def test_secrets_are_redacted(driver: ApiDriver) -> None:
    driver.client.cookies.set("session", "abc")
    op = driver.request(
        "confirm",
        "POST",
        "/status/200?replayed=true",
        json={"card": "sk_test_SECRET99", "password": "hunter2", "amount": 5},
        headers={"Authorization": "Bearer sk_test_SECRET99"},
        key="idem-1",
    )
    dumped = repr(op.to_json())
    assert "SECRET99" not in dumped and "hunter2" not in dumped
    assert "s3cret" not in dumped and "abcdef123" not in dumped
    request = op.value["request"]
    assert request["headers"]["authorization"] == "***"
    assert request["headers"]["idempotency-key"] == "idem-1"
    assert request["body"]["amount"] == 5
    assert op.value["response"]["headers"]["set-cookie"] == "***"
    assert op.value["response"]["body"]["token"] == "***"
    assert op.value["key"] == "idem-1"
    assert op.value["replayed"] is True


def test_replayed_absent_and_false(driver: ApiDriver) -> None:
    assert "replayed" not in driver.request("confirm", "POST", "/status/200").value
    op = driver.request("confirm", "POST", "/status/200?replayed=false")
    assert op.value["replayed"] is False


def test_text_bodies_are_truncated(driver: ApiDriver) -> None:
    op = driver.request("page", "GET", "/text")
    body = op.value["response"]["body"]
    assert isinstance(body, str) and body.startswith("xxx") and len(body) < 4200
    assert "more characters" in body


def test_key_header_name_and_form_data(app: ServerProcess) -> None:
    with ApiDriver(app.url, History(), key_header="X-Request-Key") as drv:
        op = drv.request("confirm", "POST", "/echo", data={"a": "1"}, key="k9")
    echoed = op.value["response"]["body"]
    assert echoed["headers"]["x-request-key"] == "k9"
    assert echoed["body"] == "a=1"
    assert op.value["request"]["body"] == {"a": "1"}


def test_login_keeps_the_session_cookie(driver: ApiDriver) -> None:
    op = driver.login("POST", "/status/200", data={"user": "alice", "password": "pw"})
    assert op.f == "login" and op.type == "ok"
    assert op.value["request"]["body"]["password"] == "***"
    assert driver.client.cookies.get("session") == "s3cret"
    echoed = driver.request("x", "GET", "/echo").value["response"]["body"]
    assert echoed["sess"] == "s3cret"
    assert echoed["headers"]["cookie"] == "***"  # the history masks the header itself


def test_burst_really_races(driver: ApiDriver, app: ServerProcess) -> None:
    n = 8
    ops = driver.burst(
        n, lambda i: RequestSpec("confirm", "POST", "/concurrent?ms=1000", json={"i": i}, key="k")
    )
    assert [op.type for op in ops] == ["ok"] * n
    assert len({op.process for op in ops}) == n
    assert {op.process for op in ops} == {f"api-{i}" for i in range(1, n + 1)}
    invokes = [op for op in driver.history.ops if op.is_invoke]
    send_spread_ms = (max(o.time_ns for o in invokes) - min(o.time_ns for o in invokes)) / 1e6
    assert send_spread_ms < 250, send_spread_ms  # a few ms when the machine is idle
    stats = httpx.get(app.url + "/stats").json()
    assert stats["counts"]["POST /concurrent"] == n
    # Every request was inside the server at the same time: nothing serialised them.
    assert stats["max_in_flight"] == n
    assert stats["spread_s"] < 0.5  # serialised, they would arrive at least 1 s apart
    # The next burst gets fresh process names.
    again = driver.burst(2, lambda i: RequestSpec("read", "GET", "/stats"))
    assert [op.process for op in again] == ["api-9", "api-10"]


def test_burst_carries_the_session_cookie(driver: ApiDriver) -> None:
    driver.client.cookies.set("session", "abc")
    ops = driver.burst(3, lambda i: RequestSpec("x", "GET", "/echo"))
    assert all(op.value["response"]["body"]["sess"] == "abc" for op in ops)


def test_burst_rejects_zero(driver: ApiDriver) -> None:
    with pytest.raises(ValueError, match="at least one"):
        driver.burst(0, lambda i: RequestSpec("x", "GET", "/"))
