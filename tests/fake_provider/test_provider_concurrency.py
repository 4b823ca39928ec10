"""Same-key requests racing against a real fake process: one execution, the rest 409 or replay.

While the first request with a key executes (its processing time, a ``delay`` or a
``hang_after`` included), every other request with that key is answered 409
``idempotency_key_in_use``; once it has ended they get its stored answer. Races are real:
threads open their own connections, wait on a barrier, then send together.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess

N = 24
SLOW_MS = 400
FORM = {
    "amount": "777",
    "currency": "usd",
    "metadata[order_id]": "race",
    "payment_method": "pm_card_visa",
    "confirm": "true",
}


@dataclass(frozen=True)
class Answer:
    status: int
    replayed: bool
    body: dict[str, Any]

    @property
    def in_use(self) -> bool:
        error = self.body.get("error") or {}
        return (
            self.status == 409
            and error.get("type") == "idempotency_error"
            and error.get("code") == "idempotency_key_in_use"
        )


@pytest.fixture(scope="module")
def slow_server() -> Iterator[ServerProcess]:
    """A fake whose calls that move money take ``SLOW_MS`` (no fault needed)."""
    env = {"NODOUBLE_FAKE_STATE": "", "NODOUBLE_FAKE_PROCESSING_MS": str(SLOW_MS)}
    with ServerProcess("fake_provider.app:create_app", env=env) as server:
        yield server


@pytest.fixture
def slow(slow_server: ServerProcess) -> Iterator[FakeProviderClient]:
    with FakeProviderClient(slow_server.url) as client:
        client.reset()
        yield client
        client.clear_faults()


def _send(url: str, key: str, form: dict[str, str] = FORM, *, timeout: float = 30) -> Answer:
    return _burst(url, [key], form, timeout=timeout)[0]


def _burst(
    url: str, keys: list[str], form: dict[str, str] = FORM, *, timeout: float = 30
) -> list[Answer]:
    """One request per key, each on its own connection, released together by a barrier."""
    barrier = threading.Barrier(len(keys))
    answers: list[Answer] = []
    lock = threading.Lock()
    parts = urlsplit(url)
    payload = urlencode(form)

    def one(key: str) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        conn.connect()  # before the barrier, so the requests leave together
        headers = {
            "Authorization": "Bearer sk_test_nodouble",
            "Idempotency-Key": key,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        barrier.wait()
        conn.request("POST", "/v1/payment_intents", body=payload, headers=headers)
        response = conn.getresponse()
        answer = Answer(
            response.status,
            response.getheader("Idempotent-Replayed") == "true",
            json.loads(response.read()),
        )
        conn.close()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == len(keys)
    return answers


def _one_execution(answers: list[Answer]) -> tuple[Answer, Counter[str]]:
    """The one executed answer; every other is the in-use 409 or an exact replay of it."""
    [first] = [a for a in answers if not a.replayed and not a.in_use]
    kinds: Counter[str] = Counter()
    for answer in answers:
        if answer is first:
            continue
        if answer.in_use:
            kinds["in_use"] += 1
            continue
        assert answer.replayed, answer
        assert (answer.status, answer.body) == (first.status, first.body)
        kinds["replay"] += 1
    return first, kinds


def test_same_key_burst_executes_once(fake: FakeProviderClient, fake_server: ServerProcess) -> None:
    first, _ = _one_execution(_burst(fake_server.url, ["burst-1"] * N))
    assert first.status == 200 and first.body["status"] == "succeeded"
    assert len(fake.charges("race")) == 1
    assert fake.summary()["over_charged"] == []


def test_a_slow_first_request_makes_concurrent_duplicates_409(
    slow: FakeProviderClient, slow_server: ServerProcess
) -> None:
    """No fault: the processing time alone keeps the key in use."""
    assert slow.faults() == []
    first, kinds = _one_execution(_burst(slow_server.url, ["burst-slow"] * N))
    assert first.status == 200
    assert kinds["in_use"] >= 1
    assert len(slow.charges("race")) == 1
    logged = Counter(r["status"] for r in slow.requests())
    assert logged[409] == kinds["in_use"] and logged[200] == N - kinds["in_use"]


def test_the_409_is_stripes_and_says_retry(slow_server: ServerProcess) -> None:
    answers = _burst(slow_server.url, ["shape"] * 2)
    [busy] = [a for a in answers if a.in_use]
    error = busy.body["error"]
    assert set(error) == {"type", "code", "message"}
    assert "another in-progress request" in error["message"] and "shape" in error["message"]


def test_burst_during_a_delay_fault_gets_409s(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    fake.set_fault("delay", "POST /v1/payment_intents", delay_ms=1500, probability=1.0, seed=1)
    first, kinds = _one_execution(_burst(fake_server.url, ["burst-2"] * N))
    assert first.status == 200 and kinds["in_use"] >= 1
    assert len(fake.charges("race")) == 1
    in_flight = [r for r in fake.requests() if r["status"] == 409]
    assert len(in_flight) == kinds["in_use"]


def test_a_held_answer_keeps_the_key_in_use_until_it_is_sent(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    fake.set_fault("hang_after", "POST /v1/payment_intents", delay_ms=800, count=1)
    started = time.monotonic()
    first, kinds = _one_execution(_burst(fake_server.url, ["burst-hang"] * N))
    assert time.monotonic() - started >= 0.8  # the held one answered at its limit
    assert first.status == 200 and kinds["in_use"] >= 1
    again = _send(fake_server.url, "burst-hang")
    assert again.replayed and again.body == first.body
    assert len(fake.charges("race")) == 1


def test_different_keys_in_parallel_are_not_affected(
    slow: FakeProviderClient, slow_server: ServerProcess
) -> None:
    started = time.monotonic()
    answers = _burst(slow_server.url, [f"own-{i}" for i in range(N)])
    elapsed = time.monotonic() - started
    assert [(a.status, a.replayed) for a in answers] == [(200, False)] * N
    assert len({a.body["id"] for a in answers}) == N
    assert len(slow.charges("race")) == N
    assert elapsed < SLOW_MS / 1000 * N / 2  # they ran side by side, not one after another


def _in_use_until(url: str, key: str, form: dict[str, str] = FORM) -> tuple[Answer, float]:
    """Send ``key`` again and again until it is no longer in use: that answer, and when."""
    deadline = time.monotonic() + 10
    while True:
        answer = _send(url, key, form)
        if not answer.in_use:
            return answer, time.monotonic()
        assert time.monotonic() < deadline, "the key stayed in use"
        time.sleep(0.02)


def test_the_key_is_freed_when_the_first_request_ends(
    slow: FakeProviderClient, slow_server: ServerProcess
) -> None:
    done: list[Answer] = []
    first = threading.Thread(target=lambda: done.append(_send(slow_server.url, "ends")))
    first.start()
    time.sleep(SLOW_MS / 4000)
    assert _send(slow_server.url, "ends").in_use
    answer, _ = _in_use_until(slow_server.url, "ends")
    first.join(10)
    assert answer.replayed and answer.body == done[0].body
    assert len(slow.charges("race")) == 1


@pytest.mark.parametrize("how", ["declined", "error_after"])
def test_the_key_is_freed_when_the_first_request_errors(
    slow: FakeProviderClient, slow_server: ServerProcess, how: str
) -> None:
    form = dict(FORM)
    if how == "declined":
        form["payment_method"] = "pm_card_chargeDeclined"
    else:
        slow.set_fault("error_after", "POST /v1/payment_intents", status=500)
    done: list[Answer] = []
    key = f"errs-{how}"
    first = threading.Thread(target=lambda: done.append(_send(slow_server.url, key, form)))
    first.start()
    time.sleep(SLOW_MS / 4000)
    assert _send(slow_server.url, key, form).in_use
    answer, _ = _in_use_until(slow_server.url, key, form)
    first.join(10)
    assert done[0].status == (402 if how == "declined" else 500)
    assert answer.replayed and (answer.status, answer.body) == (done[0].status, done[0].body)
    assert len(slow.charges("race")) == (0 if how == "declined" else 1)


def test_the_key_is_freed_when_the_first_client_disconnects(
    slow: FakeProviderClient, slow_server: ServerProcess
) -> None:
    parts = urlsplit(slow_server.url)
    payload = urlencode(FORM).encode()
    head = (
        "POST /v1/payment_intents HTTP/1.1\r\nHost: fake\r\n"
        "Authorization: Bearer sk_test_nodouble\r\nIdempotency-Key: gone\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname or "", parts.port or 80)) as sock:
        sock.sendall(head + payload)
        time.sleep(SLOW_MS / 4000)
        assert _send(slow_server.url, "gone").in_use
    closed = time.monotonic()  # the first client has left, mid-processing
    answer, freed = _in_use_until(slow_server.url, "gone")
    assert freed - closed < SLOW_MS / 1000 + 2
    assert answer.status == 200 and answer.body["status"] == "succeeded"
    assert answer.replayed  # the first request ran on to the end without its client
    assert len(slow.charges("race")) == 1
