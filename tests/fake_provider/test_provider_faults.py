"""Each fault mode, seen from a client of a real server process."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlencode

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError
from fake_provider.faults import moves_money
from fake_provider.types import FaultRecord, FormValue
from harness._process import ServerProcess

FORM = {
    "amount": "900",
    "currency": "usd",
    "metadata[order_id]": "f-1",
    "payment_method": "pm_card_visa",
    "confirm": "true",
}
CREATE = "POST /v1/payment_intents"
AUTH = {"Authorization": "Bearer sk_test_nodouble"}


def _effects(fake: FakeProviderClient) -> list[str | None]:
    return [hit["effect"] for fault in fake.faults() for hit in fault["hits"]]


def _pay(api: httpx.Client, key: str, **kwargs: object) -> httpx.Response:
    return api.post("/v1/payment_intents", data=FORM, headers={"Idempotency-Key": key}, **kwargs)  # type: ignore[arg-type]


def test_delay_then_proceeds(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("delay", CREATE, delay_ms=400)
    started = time.monotonic()
    response = _pay(api, "d")
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 200 and len(fake.charges("f-1")) == 1
    assert fake.requests()[0]["fault"].endswith(":delay")  # type: ignore[union-attr]
    assert _effects(fake) == ["delayed 400 ms, then worked normally"]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_error_before_changes_nothing_and_is_not_stored(
    api: httpx.Client, fake: FakeProviderClient, status: int
) -> None:
    fake.set_fault("error_before", CREATE, status=status)
    failed = _pay(api, "eb")
    assert failed.status_code == status
    assert failed.json()["error"]["type"] in ("api_error", "invalid_request_error")
    assert fake.ledger() == []
    assert _effects(fake) == [f"answered {status} before any work"]
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
    assert _effects(fake) == ["worked then answered 500"]


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
    assert _effects(fake) == ["worked then dropped the connection"]


def _faults_settle(fake: FakeProviderClient, timeout: float = 5.0) -> list[FaultRecord]:
    """The faults once every hit says what it did (held requests have ended)."""
    deadline = time.monotonic() + timeout
    while True:
        faults = fake.faults()
        if all(h["effect"] is not None for f in faults for h in f["hits"]):
            return faults
        assert time.monotonic() < deadline, f"a fault is still acting: {faults}"
        time.sleep(0.05)


def _open_pay(server: ServerProcess, key: str) -> socket.socket:
    """Send a paying create over a raw socket and leave the connection open, unread."""
    body = urlencode(FORM).encode()
    head = (
        "POST /v1/payment_intents HTTP/1.1\r\n"
        f"Host: {server.host}:{server.port}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n"
        f"Idempotency-Key: {key}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.sendall(head.encode() + body)
    return sock


def test_hang_after_holds_to_the_limit_when_the_client_waits(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("hang_after", CREATE, delay_ms=800)
    started = time.monotonic()
    response = _pay(api, "hw")
    assert time.monotonic() - started >= 0.8
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    [hit] = fake.faults()[0]["hits"]
    assert hit["effect"] == "worked then held the answer 0.8 s (the limit), then answered"
    assert hit["request_id"] == response.headers["Request-Id"]
    assert [r["status"] for r in fake.requests()] == [200]


def test_hang_after_keeps_the_key_in_use_and_ends_when_the_client_leaves(
    api: httpx.Client, fake: FakeProviderClient, fake_server: ServerProcess
) -> None:
    fake.set_fault("hang_after", CREATE, delay_ms=20_000)
    sock = _open_pay(fake_server, "hc")
    try:
        deadline = time.monotonic() + 5
        while not fake.charges("f-1"):
            assert time.monotonic() < deadline, "the held request never did its work"
            time.sleep(0.05)
        # the work is done but the request has not ended: its key is still in use
        busy = _pay(api, "hc")
        assert busy.status_code == 409, busy.text
        assert busy.json()["error"]["code"] == "idempotency_key_in_use"
        assert busy.headers["Stripe-Should-Retry"] == "true"
        [held] = fake.faults()[0]["hits"]
        assert held["effect"] is None and held["idempotency_key"] == "hc"
        time.sleep(0.3)
    finally:
        closed = time.monotonic()
        sock.close()
    [hit] = _faults_settle(fake)[0]["hits"]
    assert time.monotonic() - closed < 2  # let go at the close, far before the 20 s limit
    effect = hit["effect"] or ""
    assert re.fullmatch(
        r"worked then held the answer \d+\.\d\d s until the client closed the connection",
        effect,
    ), effect
    assert 0.3 <= float(effect.split()[5]) < 5
    first = [r for r in fake.requests() if r["request_id"] == hit["request_id"]]
    assert [r["status"] for r in first] == [None]  # no answer reached that client
    replayed = _pay(api, "hc")  # the hold ended: the stored work is replayed
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["status"] == "succeeded"
    assert len(fake.charges("f-1")) == 1


def test_hang_after_ends_when_an_http_client_times_out(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("hang_after", CREATE, delay_ms=20_000)
    with pytest.raises(httpx.ReadTimeout):
        _pay(api, "ht", timeout=0.3)
    [hit] = _faults_settle(fake)[0]["hits"]
    assert (hit["effect"] or "").endswith("until the client closed the connection")
    assert len(fake.charges("f-1")) == 1
    assert [r["status"] for r in fake.requests()] == [None]


def test_in_flight_answers_409_without_work(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("in_flight", CREATE)
    busy = _pay(api, "if")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert fake.ledger() == []
    assert _effects(fake) == ["answered 409 idempotency_key_in_use before any work"]
    assert _pay(api, "if").status_code == 200


def test_patterns_counts_and_seeded_probability(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_before", "POST /v1/payment_intents/*/confirm", status=503, count=2)
    intent = api.post("/v1/payment_intents", data={"amount": "500", "currency": "usd"}).json()
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
        {"mode": "delay", "endpoint": "charges"},
        {"mode": "delay", "endpoint": "Money"},
    ):
        with pytest.raises(FakeProviderError, match="400"):
            fake.set_fault(**spec)
    fake.set_fault("delay")
    fake.clear_faults()
    assert fake.faults() == []


@pytest.mark.parametrize(
    ("method", "path", "params", "money"),
    [
        ("POST", "/v1/payment_intents", {"confirm": "true"}, True),
        ("POST", "/v1/payment_intents", {"confirm": "True"}, True),
        ("POST", "/v1/payment_intents", {"confirm": "false"}, False),
        ("POST", "/v1/payment_intents", {}, False),
        ("POST", "/v1/payment_intents", {"confirm": "yes"}, False),
        ("POST", "/v1/payment_intents", None, False),
        ("POST", "/v1/payment_intents/pi_1/confirm", {}, True),
        ("POST", "/v1/payment_intents/pi_1/capture", None, True),
        ("POST", "/v1/payment_intents/pi_1/cancel", {}, False),
        ("GET", "/v1/payment_intents/pi_1", {}, False),
        ("POST", "/v1/refunds", {"payment_intent": "pi_1"}, False),
    ],
)
def test_moves_money_names_the_calls_that_can_charge(
    method: str, path: str, params: dict[str, FormValue] | None, money: bool
) -> None:
    assert moves_money(method, path, params) is money


def test_money_fault_waits_for_a_call_that_can_charge(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_before", "money")
    draft = {"amount": "700", "currency": "usd", "payment_method": "pm_card_visa"}
    created = api.post("/v1/payment_intents", data=draft, headers={"Idempotency-Key": "c"})
    assert created.status_code == 200 and created.json()["status"] == "requires_confirmation"
    intent = created.json()["id"]
    assert api.get(f"/v1/payment_intents/{intent}").status_code == 200
    [armed] = fake.faults()
    assert (armed["fired"], armed["hits"]) == (0, [])  # neither call could charge
    refused = api.post(f"/v1/payment_intents/{intent}/confirm", headers={"Idempotency-Key": "k"})
    assert refused.status_code == 500 and fake.ledger() == []
    [fault] = fake.faults()
    assert fault["fired"] == 1
    [hit] = fault["hits"]
    assert hit["request_id"] == refused.headers["Request-Id"]
    assert (hit["method"], hit["path"]) == ("POST", f"/v1/payment_intents/{intent}/confirm")
    assert (hit["idempotency_key"], hit["account"]) == ("k", "sk_test_nodouble")
    assert hit["money"] is True and hit["replayed"] is False
    assert hit["effect"] == "answered 500 before any work"
    assert abs(hit["at"] - time.time()) < 10
    log = fake.requests()
    assert [(r["path"].rsplit("/", 1)[-1], r["money"]) for r in log] == [
        ("payment_intents", False),
        (intent, False),
        ("confirm", True),
    ]
    assert log[2]["fault"] == f"{fault['id']}:error_before"
    assert log[2]["request_id"] == hit["request_id"]


def test_money_fault_fires_on_a_create_that_confirms(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_after", "money")
    failed = _pay(api, "mc")
    assert failed.status_code == 500 and len(fake.charges("f-1")) == 1
    [hit] = fake.faults()[0]["hits"]
    assert (hit["path"], hit["idempotency_key"], hit["money"]) == (
        "/v1/payment_intents",
        "mc",
        True,
    )
    assert hit["effect"] == "worked then answered 500"
    assert [r["money"] for r in fake.requests()] == [True]


def test_money_fault_fires_on_capture(api: httpx.Client, fake: FakeProviderClient) -> None:
    authorized = api.post("/v1/payment_intents", data={**FORM, "capture_method": "manual"})
    assert authorized.json()["status"] == "requires_capture" and fake.charges() == []
    fake.set_fault("drop_after", "money")
    intent = authorized.json()["id"]
    assert api.get(f"/v1/payment_intents/{intent}").status_code == 200  # cannot charge
    with pytest.raises(httpx.RemoteProtocolError):
        api.post(f"/v1/payment_intents/{intent}/capture")
    assert len(fake.charges("f-1")) == 1
    [fault] = fake.faults()
    assert fault["fired"] == 1
    [hit] = fault["hits"]
    assert hit["path"] == f"/v1/payment_intents/{intent}/capture" and hit["money"] is True
    assert hit["effect"] == "worked then dropped the connection"


def test_faults_on_replays_say_no_new_work_was_done(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    assert _pay(api, "rp").status_code == 200
    fake.set_fault("delay", "money", delay_ms=50)
    fake.set_fault("error_after", "money")
    fake.set_fault("hang_after", "money", delay_ms=100)
    statuses = [_pay(api, "rp").status_code for _ in range(3)]
    assert statuses == [200, 500, 200] and len(fake.charges("f-1")) == 1
    hits = [hit for fault in fake.faults() for hit in fault["hits"]]
    assert all(hit["replayed"] for hit in hits)
    assert [hit["effect"] for hit in hits] == [
        "delayed 50 ms, then replayed the stored answer",
        "answered 500 instead of replaying the stored answer",
        "held the replayed answer 0.1 s (the limit), then answered",
    ]


def test_a_fault_refused_by_the_key_check_says_it_did_nothing(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    assert _pay(api, "mm").status_code == 200
    fake.set_fault("error_after", CREATE)
    changed = api.post(
        "/v1/payment_intents", data={**FORM, "amount": "901"}, headers={"Idempotency-Key": "mm"}
    )
    assert changed.status_code == 400
    assert _effects(fake) == ["did nothing: the request was answered 400 before any work"]


def test_a_hit_says_whether_the_work_really_charged(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_after", "money")
    manual = {**FORM, "capture_method": "manual", "metadata[order_id]": "f-manual"}
    held = api.post("/v1/payment_intents", data=manual, headers={"Idempotency-Key": "m1"})
    assert held.status_code == 500  # authorised only: the confirm moved no money
    fake.set_fault("error_after", "money")
    paid = _pay(api, "m2")
    assert paid.status_code == 500 and len(fake.charges("f-1")) == 1
    hits = [hit for fault in fake.faults() for hit in fault["hits"]]
    assert [(hit["money"], hit["charged"]) for hit in hits] == [(True, False), (True, True)]
