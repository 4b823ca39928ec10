"""The Stripe ledger source: keys, pagination, the pre-run cut, the mapping of objects.

The source reads the fake provider through the public ``/v1`` API only, through a
recording proxy, each test with an account of its own (the fake keeps one account per
API key). The mapping of Stripe objects it cannot make the fake produce (an uncaptured
authorisation, a pending refund, a charge without metadata, a live-mode object, a 429)
is checked on hand-written answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _recording_proxy import RecordingProxy
from typer.testing import CliRunner

from harness._preflight import SetupError
from harness._process import ServerProcess
from harness.cli import app
from harness.ledger_sources import open_source
from harness.ledger_sources._keys import read_test_key
from harness.ledger_sources.stripe import API_VERSION, StripeLedger
from harness.profile import ProfileError, ProviderSection, parse_profile
from harness.target import REFERENCE_PROFILE, Target

ENV = "NODOUBLE_TEST_STRIPE_KEY"


@pytest.fixture(scope="module")
def fake() -> Iterator[ServerProcess]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as server:
        yield server


@pytest.fixture
def proxy(fake: ServerProcess) -> Iterator[RecordingProxy]:
    with RecordingProxy(fake.url) as recording:
        yield recording


@pytest.fixture
def account(fake: ServerProcess) -> Iterator[httpx.Client]:
    """A Stripe client on an account no other test uses."""
    key = f"sk_test_{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def pay(client: httpx.Client, order: str, card: str = "pm_card_visa") -> dict[str, Any]:
    answer = client.post(
        "/v1/payment_intents",
        data={"amount": 1200, "currency": "usd", "payment_method": card, "confirm": "true",
              "metadata[order_id]": order},
        headers={"Idempotency-Key": f"key-{order}"},
    )  # fmt: skip
    body: dict[str, Any] = answer.json()
    return body


def key_of(client: httpx.Client) -> str:
    return str(client.headers["Authorization"]).removeprefix("Bearer ")


# -- the key --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "is not set"),
        ("sk_live_abc123", "live key"),
        ("rk_live_abc123", "live key"),
        ("pk_test_abc123", "does not hold a Stripe test key"),
    ],
)
def test_a_missing_live_or_wrong_key_is_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, value: str | None, says: str
) -> None:
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    with pytest.raises(ProfileError) as caught:
        read_test_key(ProviderSection(ledger="stripe", api_key_env=ENV))
    message = str(caught.value)
    assert message.startswith("provider.api_key_env: ") and ENV in message and says in message
    assert "\n" not in message and "abc123" not in message  # never the whole key


@pytest.mark.parametrize("value", ["sk_test_abc", "rk_test_read_only"])
def test_a_secret_or_restricted_test_key_is_taken(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV, value)
    assert read_test_key(ProviderSection(ledger="stripe", api_key_env=ENV)) == value


def test_a_stripe_ledger_without_a_key_variable_is_a_profile_error() -> None:
    data = {"name": "x", "base_url": "http://127.0.0.1:9", "session": {"headers": {}},
            "provider": {"ledger": "stripe"}}  # fmt: skip
    with pytest.raises(ProfileError, match=r"provider: .*api_key_env"):
        parse_profile(data)
    data["provider"] = {"ledger": "stripe", "api_key_env": "not a name"}
    with pytest.raises(ProfileError, match=r"provider.api_key_env: 'not a name' is not an env"):
        parse_profile(data)


def test_the_cli_refuses_a_live_key_with_exit_2_and_one_line(tmp_path: Path) -> None:
    profile = tmp_path / "staging.toml"
    text = REFERENCE_PROFILE.read_text().replace(
        'api_key = "sk_test_nodouble"', f'api_key = "sk_test_nodouble"\nledger = "stripe"\n'
        f'api_key_env = "{ENV}"'
    )  # fmt: skip
    profile.write_text(text)
    result = CliRunner().invoke(
        app, ["run", "--target", str(profile), "--no-browser"], env={ENV: "sk_live_secret99"}
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "provider.api_key_env" in lines[0] and "live key" in lines[0]
    assert "secret99" not in result.output and "Traceback" not in result.output


def test_open_source_follows_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "rk_test_x")
    data = {"name": "x", "base_url": "http://127.0.0.1:9", "session": {"headers": {}},
            "provider": {"ledger": "stripe", "api_key_env": ENV,
                         "api_base": "http://127.0.0.1:9/"}}  # fmt: skip
    profile = parse_profile(data)
    source = open_source(Target(profile, profile.base_url, profile.provider.api_base))
    try:
        assert isinstance(source, StripeLedger) and source.base_url == "http://127.0.0.1:9"
        assert "rk_test_" in source.describe() and not source.account_probe
        assert set(source.unavailable) == {
            "provider_faults", "webhooks", "threeds", "hosted_checkout"}  # fmt: skip
        with pytest.raises(SetupError, match="the Stripe ledger cannot be read"):
            source.check()  # nothing listens there
    finally:
        source.close()


# -- reading the fake through the public API -----------------------------------------------


def test_rows_from_before_the_source_opened_are_never_judged(
    account: httpx.Client, proxy: RecordingProxy
) -> None:
    for n in range(3):
        pay(account, f"old-{n}")
    source = StripeLedger(key_of(account), proxy.url)
    try:
        start = source.cursor()
        assert start == 3  # seen, numbered, and below the first cursor
        assert source.rows(after_seq=start) == []
        paid = pay(account, "new-1")
        rows = source.rows(after_seq=start)
        assert [(r.kind, r.metadata["order_id"], r.seq) for r in rows] == [("charge", "new-1", 4)]
        assert rows[0].intent_id == paid["id"] and rows[0].charge_id == paid["latest_charge"]
        assert rows[0].idempotency_key == "key-new-1"  # from its payment_intent.succeeded
        assert source.events_read is True
        assert source.charged("order_id", "new-1") and not source.charged("order_id", "nope")
    finally:
        source.close()


def test_pages_are_followed_and_declines_and_refunds_are_rows(
    account: httpx.Client, proxy: RecordingProxy
) -> None:
    source = StripeLedger(key_of(account), proxy.url)
    try:
        start = source.cursor()
        intents = [pay(account, f"o-{n}") for n in range(101)]  # more than one page of 100
        declined = account.post(
            "/v1/payment_intents",
            data={"amount": 500, "currency": "usd", "confirm": "true",
                  "payment_method": "pm_card_chargeDeclined", "metadata[order_id]": "o-declined"},
        )  # fmt: skip
        assert declined.status_code == 402
        refund = account.post(
            "/v1/refunds", data={"payment_intent": intents[0]["id"], "amount": 200}
        ).json()
        proxy.clear()
        rows = source.rows(after_seq=start)
    finally:
        source.close()
    kinds = [r.kind for r in rows]
    assert kinds.count("charge") == 101 and kinds.count("decline") == 1
    assert kinds.count("refund") == 1
    assert len({r.id for r in rows}) == len(rows)  # each object once
    assert [r.seq for r in rows] == list(range(start + 1, start + len(rows) + 1))
    back = next(r for r in rows if r.kind == "refund")
    assert back.id == refund["id"] and back.amount == 200
    assert back.charge_id == intents[0]["latest_charge"]
    assert back.metadata["order_id"] == "o-0"  # from its PaymentIntent
    decline = next(r for r in rows if r.kind == "decline")
    assert decline.metadata["order_id"] == "o-declined" and decline.idempotency_key is None
    assert {r.idempotency_key for r in rows if r.kind == "charge"} == {
        f"key-o-{n}" for n in range(101)
    }
    paths = proxy.paths()
    assert any(p.startswith("/v1/charges?") and "starting_after=ch_" in p for p in paths)
    assert any(p.startswith("/v1/payment_intents?") and "starting_after=pi_" in p for p in paths)
    assert all("created%5Bgte%5D=" in p for p in paths), paths
    assert not [p for p in paths if p.startswith("/_fake") or "/search" in p]


def test_an_account_without_charges_reads_empty(
    account: httpx.Client, proxy: RecordingProxy
) -> None:
    pay(account, "theirs")
    elsewhere = StripeLedger(f"sk_test_{uuid.uuid4().hex[:12]}", proxy.url)
    try:
        elsewhere.check()
        start = elsewhere.cursor()
        pay(account, "theirs-too")
        assert start == 0 and elsewhere.rows(after_seq=0) == []
    finally:
        elsewhere.close()


def test_a_checkout_sessions_metadata_and_reference_reach_its_charge(
    account: httpx.Client, fake: ServerProcess, proxy: RecordingProxy
) -> None:
    def session(**extra: str) -> str:
        form = {"mode": "payment", "success_url": "https://shop.test/ok",
                "line_items[0][price_data][currency]": "usd",
                "line_items[0][price_data][unit_amount]": "700",
                "line_items[0][price_data][product_data][name]": "Tee",
                "line_items[0][quantity]": "1", **extra}  # fmt: skip
        made = account.post("/v1/checkout/sessions", data=form)
        assert made.status_code == 200, made.text
        sid = str(made.json()["id"])
        paid = httpx.post(f"{fake.url}/_fake/checkout/sessions/{sid}/pay", json={})  # setup
        assert paid.status_code == 200, paid.text
        return sid

    source = StripeLedger(key_of(account), proxy.url)
    try:
        start = source.cursor()
        session(**{"metadata[order_id]": "o-on-session", "client_reference_id": "cart-7"})
        session(**{"payment_intent_data[metadata][order_id]": "o-on-intent"})
        proxy.clear()
        rows = source.rows(after_seq=start)
    finally:
        source.close()
    assert [(r.kind, r.metadata) for r in rows] == [
        ("charge", {"order_id": "o-on-session", "client_reference_id": "cart-7"}),
        ("charge", {"order_id": "o-on-intent"}),
    ]
    asked = [p for p in proxy.paths() if p.startswith("/v1/checkout/sessions")]
    assert len(asked) == 1 and "payment_intent=" in asked[0]  # only where the key lacked


# -- the mapping, on hand-written answers --------------------------------------------------


class Stripe:
    """A hand-written Stripe: lists of objects, each served newest first, one per page."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {
            "/v1/payment_intents": [], "/v1/charges": [], "/v1/refunds": [], "/v1/events": []
        }  # fmt: skip
        self.throttle = 0
        self.calls: list[str] = []
        self.events_forbidden = True  # a restricted key without read access to events
        self.versions: set[str | None] = set()

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(str(request.url))
        self.versions.add(request.headers.get("Stripe-Version"))
        if self.throttle:
            self.throttle -= 1
            return httpx.Response(429, json={"error": {"message": "Too many requests"}})
        path = request.url.path
        if path == "/v1/events" and self.events_forbidden:
            return httpx.Response(403, json={"error": {"message": "no permission"}})
        if path.startswith("/v1/payment_intents/"):
            return httpx.Response(
                200,
                json={"id": path.rsplit("/", 1)[1], "metadata": {"order_id": "from-old-intent"}},
            )
        found = sorted(self.objects[path], key=lambda o: o["created"], reverse=True)
        after = request.url.params.get("starting_after")
        if after:
            found = found[[o["id"] for o in found].index(after) + 1 :]
        return httpx.Response(200, json={"object": "list", "data": found[:1],
                                         "has_more": len(found) > 1})  # fmt: skip


def test_authorisations_pending_refunds_and_metadata_of_the_intent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("harness.ledger_sources.stripe.MIN_POLL_S", 0.0)
    stripe = Stripe()
    intents, charges, refunds = (stripe.objects[p] for p in
                                 ("/v1/payment_intents", "/v1/charges", "/v1/refunds"))  # fmt: skip
    intents.append({"id": "pi_1", "created": 100, "metadata": {"order_id": "o-1"}})
    charge = {"id": "ch_1", "created": 101, "status": "succeeded", "captured": False,
              "amount": 900, "amount_captured": 0, "currency": "eur", "payment_intent": "pi_1",
              "metadata": {}}  # fmt: skip
    charges.append(charge)
    charges.append({"id": "ch_old", "created": 102, "status": "succeeded", "captured": True,
                    "amount": 50, "amount_captured": 50, "payment_intent": "pi_old",
                    "metadata": {}})  # fmt: skip
    refunds.append({"id": "re_1", "created": 103, "status": "pending", "amount": 900,
                    "charge": "ch_1", "payment_intent": "pi_1", "metadata": {}})  # fmt: skip
    source = StripeLedger("sk_test_x", "https://stripe.test",
                          transport=httpx.MockTransport(stripe.handle))  # fmt: skip
    try:
        first = source.rows(after_seq=0)
        assert [(r.id, r.metadata["order_id"]) for r in first] == [("ch_old", "from-old-intent")]
        charge.update(captured=True, amount_captured=900)  # captured later: a charge now
        refunds[0]["status"] = "succeeded"
        stripe.throttle = 2  # rate limited twice: retried, not a lost read
        later = source.rows(after_seq=1)
        assert [(r.id, r.kind, r.amount, r.metadata, r.seq) for r in later] == [
            ("ch_1", "charge", 900, {"order_id": "o-1"}, 2),
            ("re_1", "refund", 900, {"order_id": "o-1"}, 3),
        ]
        assert source.rows(after_seq=0) == [*first, *later]  # seen once, numbered once
        assert source.events_read is False and {r.idempotency_key for r in later} == {None}
        stripe.events_forbidden = False  # an account on an API version before 2022-11
        stripe.objects["/v1/events"].append(
            {"id": "evt_1", "created": 150, "type": "payment_intent.succeeded",
             "request": {"id": "req_1", "idempotency_key": "k-2"},
             "data": {"object": {"id": "pi_2", "charges": {"data": [{"id": "ch_2"}]}}}}
        )  # fmt: skip
        charges.append({"id": "ch_2", "created": 149, "status": "succeeded", "captured": True,
                        "amount": 70, "amount_captured": 70, "payment_intent": "pi_1",
                        "metadata": {}})  # fmt: skip
        [third] = source.rows(after_seq=3)
        assert (third.id, third.idempotency_key, source.events_read) == ("ch_2", "k-2", True)
        intents.append({"id": "pi_live", "created": 200, "livemode": True, "metadata": {}})
        with pytest.raises(RuntimeError, match="live-mode object pi_live"):
            source.cursor()
    finally:
        source.close()
    assert not [c for c in stripe.calls if "/search" in c or "/_fake" in c]
    # pinned: an account on an older default version would list the release of a partial
    # capture or of a cancelled authorisation as a refund
    assert stripe.versions == {API_VERSION}
