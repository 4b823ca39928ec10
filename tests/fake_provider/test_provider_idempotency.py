"""The idempotency store against a model a person can check by eye."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fake_provider._idempotency import IdempotencyStore, fingerprint
from fake_provider._state import Store

TTL = 100.0
accounts = st.sampled_from(["sk_test_a", "sk_test_b"])
keys = st.sampled_from(["k1", "k2", "k3"])
endpoints = st.sampled_from(["POST /v1/payment_intents", "POST /v1/refunds"])
amounts = st.sampled_from(["100", "200"])


@dataclass
class ModelRecord:
    endpoint: str
    amount: str
    status: int
    created: float


class IdempotencyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.store = IdempotencyStore(Store(), ttl=TTL, clock=lambda: self.now)
        self.saved: dict[tuple[str, str], ModelRecord] = {}
        self.running: dict[tuple[str, str], tuple[str, str, float]] = {}

    def _live(self, slot: tuple[str, str]) -> ModelRecord | None:
        record = self.saved.get(slot)
        if record is not None and self.now - record.created >= TTL:
            del self.saved[slot]
            return None
        return record

    @rule(account=accounts, key=keys, endpoint=endpoints, amount=amounts)
    def begin(self, account: str, key: str, endpoint: str, amount: str) -> None:
        slot = (account, key)
        got = self.store.begin(account, key, fingerprint(endpoint, {"amount": amount}))
        if slot in self.running:
            assert got.kind == "in_flight"
            return
        record = self._live(slot)
        if record is None:
            assert got.kind == "proceed"
            self.running[slot] = (endpoint, amount, self.now)
        elif (record.endpoint, record.amount) != (endpoint, amount):
            assert got.kind == "mismatch"
            assert got.first_endpoint == record.endpoint
        else:
            assert got.kind == "replay"
            assert got.status == record.status
            assert got.body == {"amount": record.amount, "status": record.status}

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data(), status=st.sampled_from([200, 402, 500]))
    def finish(self, data: st.DataObject, status: int) -> None:
        slot = data.draw(st.sampled_from(sorted(self.running)))
        endpoint, amount, started = self.running.pop(slot)
        self.store.finish(*slot, status, {"amount": amount, "status": status})
        self.saved[slot] = ModelRecord(endpoint, amount, status, started)

    @precondition(lambda self: bool(self.running))
    @rule(data=st.data())
    def abandon(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(sorted(self.running)))
        del self.running[slot]
        self.store.abandon(*slot)

    @rule(seconds=st.sampled_from([1.0, 30.0, 99.0, 100.0, 250.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def purge(self) -> None:
        expected = sum(1 for slot in list(self.saved) if self._live(slot) is None)
        assert self.store.purge() == expected

    @invariant()
    def stored_records_match_the_model(self) -> None:
        for (account, key), record in self.saved.items():
            if self.now - record.created >= TTL:
                continue
            stored = self.store.store.get("idempotency", f"{account}\x1f{key}")
            assert stored is not None
            assert stored["status"] == record.status
            assert stored["fingerprint"]["endpoint"] == record.endpoint


IdempotencyMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
TestIdempotencyStore = IdempotencyMachine.TestCase


def test_begin_twice_is_in_flight_until_finished() -> None:
    store = IdempotencyStore(Store())
    print_ = fingerprint("POST /v1/payment_intents", {"amount": "1"})
    assert store.begin("sk_test_a", "k", print_).kind == "proceed"
    assert store.begin("sk_test_a", "k", print_).kind == "in_flight"
    assert store.begin("sk_test_b", "k", print_).kind == "proceed"  # accounts are separate
    store.finish("sk_test_a", "k", 201, {"x": 1})
    again = store.begin("sk_test_a", "k", print_)
    assert (again.kind, again.status, again.body) == ("replay", 201, {"x": 1})
