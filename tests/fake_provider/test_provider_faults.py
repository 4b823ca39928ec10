"""Each fault mode, seen from a client of a real server process."""

from __future__ import annotations

import time

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError

FORM = {
    "amount": "900",
    "currency": "usd",
    "metadata[order_id]": "f-1",
    "payment_method": "pm_card_visa",
    "confirm": "true",
}
CREATE = "POST /v1/payment_intents"


def _pay(api: httpx.Client, key: str, **kwargs: object) -> httpx.Response:
    return api.post("/v1/payment_intents", data=FORM, headers={"Idempotency-Key": key}, **kwargs)  # type: ignore[arg-type]


def test_delay_then_proceeds(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("delay", CREATE, delay_ms=400)
    started = time.monotonic()
    response = _pay(api, "d")
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 200 and len(fake.charges("f-1")) == 1
    assert fake.requests()[0]["fault"].endswith(":delay")  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_error_before_changes_nothing_and_is_not_stored(
    api: httpx.Client, fake: FakeProviderClient, status: int
) -> None:
    fake.set_fault("error_before", CREATE, status=status)
    failed = _pay(api, "eb")
    assert failed.status_code == status
    assert failed.json()["error"]["type"] in ("api_error", "invalid_request_error")
    assert fake.ledger() == []
    retried = _pay(api, "eb")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert len(fake.charges("f-1")) == 1


def test_error_after_does_the_work_and_replays_the_500(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_after", CREATE)
    failed = _pay(api, "ea")
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "api_error"
    assert len(fake.charges("f-1")) == 1
    replayed = _pay(api, "ea")
    assert replayed.status_code == 500 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == failed.json()
    assert len(fake.charges("f-1")) == 1


def test_drop_after_closes_the_connection_after_the_work(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("drop_after", CREATE)
    with pytest.raises(httpx.RemoteProtocolError):
        _pay(api, "da")
    assert len(fake.charges("f-1")) == 1
    replayed = _pay(api, "da")
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["status"] == "succeeded"
    assert [r["status"] for r in fake.requests()] == [None, 200]


def test_hang_after_outlives_the_client_timeout(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("hang_after", CREATE, delay_ms=1500)
    with pytest.raises(httpx.ReadTimeout):
        _pay(api, "ha", timeout=0.3)
    assert len(fake.charges("f-1")) == 1
    # while the first request still hangs its result is already stored
    replayed = _pay(api, "ha")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    deadline = time.monotonic() + 5  # let the hung request finish before the next test
    while not any(r["fault"] for r in fake.requests()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r["status"] for r in fake.requests() if r["fault"]] == [200]


def test_in_flight_answers_409_without_work(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("in_flight", CREATE)
    busy = _pay(api, "if")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert fake.ledger() == []
    assert _pay(api, "if").status_code == 200


def test_patterns_counts_and_seeded_probability(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_before", "POST /v1/payment_intents/*/confirm", status=503, count=2)
    intent = api.post("/v1/payment_intents", data={"amount": "5", "currency": "usd"}).json()
    url = f"/v1/payment_intents/{intent['id']}/confirm"
    statuses = [
        api.post(url, data={"payment_method": "pm_card_visa"}).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    assert fake.faults()[0]["fired"] == 2

    def pattern(seed: int) -> list[bool]:
        fake.reset()
        fake.set_fault("error_before", "*", probability=0.5, seed=seed)
        codes = [api.get("/v1/payment_intents/pi_x").status_code for _ in range(16)]
        return [code == 500 for code in codes]

    first, second = pattern(7), pattern(7)
    assert first == second and 0 < sum(first) < 16
    fired = [r for r in fake.requests() if (r["fault"] or "").endswith(":error_before")]
    assert len(fired) == sum(second)


def test_bad_fault_specs_are_rejected(fake: FakeProviderClient) -> None:
    for spec in (
        {"mode": "explode"},
        {"mode": "error_before", "status": 404},
        {"mode": "delay", "delay_ms": -1},
        {"mode": "delay", "probability": 2},
    ):
        with pytest.raises(FakeProviderError, match="400"):
            fake.set_fault(**spec)  # type: ignore[arg-type]
    fake.set_fault("delay")
    fake.clear_faults()
    assert fake.faults() == []
