"""200 requests with one idempotency key, released together, execute exactly once."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from urllib.parse import urlencode, urlsplit

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess

N = 200
FORM = {
    "amount": "777",
    "currency": "usd",
    "metadata[order_id]": "race",
    "payment_method": "pm_card_visa",
    "confirm": "true",
}


def _burst(url: str, key: str) -> list[tuple[int, bool, str | None]]:
    barrier = threading.Barrier(N)
    results: list[tuple[int, bool, str | None]] = []
    lock = threading.Lock()

    parts = urlsplit(url)
    payload = urlencode(FORM)
    headers = {
        "Authorization": "Bearer sk_test_nodouble",
        "Idempotency-Key": key,
        "Content-Type": "application/x-www-form-urlencoded",
    }

    def one() -> None:
        # One connection per thread, opened before the barrier so the requests leave together.
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        conn.connect()
        barrier.wait()
        conn.request("POST", "/v1/payment_intents", body=payload, headers=headers)
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
        outcome = (
            response.status,
            response.getheader("Idempotent-Replayed") == "true",
            body.get("id") or body["error"].get("code"),
        )
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == N
    return results


def test_same_key_burst_executes_once(fake: FakeProviderClient, fake_server: ServerProcess) -> None:
    results = _burst(fake_server.url, "burst-1")
    executed = [r for r in results if r[0] == 200 and not r[1]]
    assert len(executed) == 1
    intent_id = executed[0][2]
    for status, replayed, what in results:
        if (status, replayed) == (200, False):
            continue
        assert (status == 200 and replayed and what == intent_id) or (
            status == 409 and what == "idempotency_key_in_use"
        ), (status, replayed, what)
    assert len(fake.charges("race")) == 1
    assert fake.summary()["over_charged"] == []


def test_burst_during_a_slow_execution_gets_409s(
    fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    fake.set_fault("delay", "POST /v1/payment_intents", delay_ms=1500, probability=1.0, seed=1)
    results = _burst(fake_server.url, "burst-2")
    kinds = Counter((status, replayed) for status, replayed, _ in results)
    assert kinds[(200, False)] == 1
    assert kinds[(409, False)] >= 1
    assert kinds[(200, False)] + kinds[(200, True)] + kinds[(409, False)] == N
    assert len(fake.charges("race")) == 1
    in_flight = [r for r in fake.requests() if r["status"] == 409]
    assert len(in_flight) == kinds[(409, False)]
