"""Random interleavings of what customers and clients do to one checkout.

A Hypothesis ``RuleBasedStateMachine`` drives a real reference_app process (the plugin's
session-scoped ``reference_app`` on SQLite, with the fake provider): its rules are user
and client actions (create, confirm, double click, back, reload, retry after a timeout,
parallel bursts, duplicated webhooks, a decline then a payment) and its invariants are
checked against the fake provider's ledger after every step. Each machine run signs in a
fresh user. A failure prints as a replayable program.

Invariants, read in an order that makes them exact despite background work:

1. at most one charge per order (ledger read after the app);
2. an order the app shows paid has exactly one charge, of the order's amount (the app
   marks an order paid only after the provider answered, so the charge is in a ledger
   read taken after the app's answer);
3. an order charged in a ledger read taken *before* the app's answer shows paid, or its
   payment is still PENDING (the provider may have charged while the app waits for the
   answer). At teardown the reconciler gets time and every charged order must be paid.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from harness._plugin._servers import FakeProvider, ReferenceApp

SKUS = ("tee-black", "mug-white", "sticker-pack", "hoodie-grey")
VISA = "pm_card_visa"
DECLINED = "pm_card_chargeDeclined"
ANSWERS = {200, 202, 402, 409}
"""Every confirm answer a correct checkout may give here; anything else is a bug."""
BURST = 5
SETTLE_S = 10.0
"""How long teardown waits for the reconciler (the app reconciles every second here)."""

SETTINGS = settings(
    max_examples=12,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass
class Order:
    order_id: str
    amount: int
    key: str
    """The key of the customer's current attempt; a new one after a definite decline."""


@dataclass
class Answer:
    status: int
    body: Any
    replayed: bool

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return cls(response.status_code, response.json(), replayed)


def new_key() -> str:
    return "prop-" + uuid.uuid4().hex


class CheckoutMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self, app: ReferenceApp, provider: FakeProvider) -> None:
        super().__init__()
        self.app = app
        self.provider = provider
        self.user = "prop-" + uuid.uuid4().hex[:10]
        self.http = self.client()
        self.known: dict[str, Order] = {}

    def client(self, timeout: float = 15.0) -> httpx.Client:
        http = httpx.Client(base_url=self.app.url, timeout=timeout)
        http.post("/api/session", json={"user": self.user}).raise_for_status()
        return http

    # -- the customer's actions -----------------------------------------------------------

    @rule(target=orders, sku=st.sampled_from(SKUS), quantity=st.integers(1, 3))
    def create_order(self, sku: str, quantity: int) -> str:
        response = self.http.post(
            "/api/orders", json={"items": [{"sku": sku, "quantity": quantity}]}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "open"
        self.known[body["order_id"]] = Order(body["order_id"], body["amount"], new_key())
        return str(body["order_id"])

    def confirm(
        self, order: Order, key: str, method: str = VISA, http: httpx.Client | None = None
    ) -> Answer:
        response = (http or self.http).post(
            f"/api/orders/{order.order_id}/confirm",
            json={"payment_method": method},
            headers={"Idempotency-Key": key},
        )
        answer = Answer.of(response)
        assert answer.status in ANSWERS, (answer.status, answer.body)
        if answer.status == 200:
            assert answer.body["status"] == "paid"
            assert answer.body["amount"] == order.amount
        if answer.status == 402 and key == order.key:
            order.key = new_key()  # a declined attempt is over; the next one is new
        return answer

    @rule(order_id=orders)
    def pay(self, order_id: str) -> None:
        order = self.known[order_id]
        answer = self.confirm(order, order.key)
        assert answer.status in (200, 409), (answer.status, answer.body)

    @rule(order_id=orders)
    def double_click(self, order_id: str) -> None:
        order = self.known[order_id]
        answers = self.race(order, [order.key, order.key])
        assert any(a.status == 200 for a in answers) or all(a.status == 409 for a in answers[1:])

    @rule(order_id=orders)
    def back_and_resubmit(self, order_id: str) -> None:
        order = self.known[order_id]
        key = order.key
        first = self.confirm(order, key)
        again = self.confirm(order, key)
        if first.status in (200, 402):
            assert again.replayed, "a repeated key must replay the stored answer"
            assert (again.status, again.body) == (first.status, first.body)

    @rule(order_id=orders)
    def reload(self, order_id: str) -> None:
        view = self.read(order_id)
        assert view["status"] in ("open", "paid")
        assert view["amount"] == self.known[order_id].amount

    @rule(order_id=orders)
    def retry_after_timeout(self, order_id: str) -> None:
        order = self.known[order_id]
        self.provider.client.set_fault("delay", "POST /v1/payment_intents", delay_ms=1200, count=1)
        try:
            impatient = self.client(timeout=0.3)
            # the answer is lost: the charge may or may not have happened
            with contextlib.closing(impatient), contextlib.suppress(httpx.TimeoutException):
                self.confirm(order, order.key, http=impatient)
            answer = self.settled(order, order.key)
            assert answer.status == 200, (answer.status, answer.body)
        finally:
            self.provider.client.clear_faults()

    @rule(order_id=orders, same_key=st.booleans())
    def parallel_burst(self, order_id: str, same_key: bool) -> None:
        order = self.known[order_id]
        keys = [order.key] * BURST if same_key else [new_key() for _ in range(BURST)]
        answers = self.race(order, keys)
        assert sum(a.status == 402 for a in answers) == 0, "a visa card is never declined"

    @rule(order_id=orders)
    def webhook_duplicate(self, order_id: str) -> None:
        events = [
            e["id"]
            for e in self.provider.client.events()
            if e["data"]["object"].get("metadata", {}).get("order_id") == order_id
        ]
        for event_id in events:
            self.provider.client.resend_event(str(event_id))
        assert self.provider.client.flush_webhooks(timeout=10)

    @rule(order_id=orders)
    def decline_then_pay(self, order_id: str) -> None:
        order = self.known[order_id]
        declined = self.confirm(order, new_key(), DECLINED)
        assert declined.status in (200, 402), (declined.status, declined.body)
        if declined.status == 200:
            assert self.read(order_id)["status"] == "paid", "200 for a declined card: paid before"
        paid = self.settled(order, new_key())
        assert paid.status == 200, (paid.status, paid.body)

    # -- helpers ------------------------------------------------------------------------

    def race(self, order: Order, keys: list[str]) -> list[Answer]:
        """Confirm once per key, all released together by a barrier, each on its own client."""
        clients = [self.client() for _ in keys]
        barrier = threading.Barrier(len(keys))
        answers: list[Answer | BaseException] = [RuntimeError("no answer")] * len(keys)

        def go(i: int) -> None:
            barrier.wait()
            try:
                answers[i] = self.confirm(order, keys[i], http=clients[i])
            except BaseException as exc:  # reported below, in the main thread
                answers[i] = exc

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(keys))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for http in clients:
            http.close()
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return [a for a in answers if isinstance(a, Answer)]

    def settled(self, order: Order, key: str) -> Answer:
        """Confirm with ``key`` until the answer is no longer "in progress" (409/202)."""
        deadline = time.monotonic() + 10
        while True:
            answer = self.confirm(order, key)
            if answer.status not in (202, 409) or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    def read(self, order_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def charges(self) -> dict[str, dict[str, Any]]:
        keys = self.provider.client.summary("order_id")["keys"]
        return {k: dict(v) for k, v in keys.items() if k in self.known}

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def money_matches_what_the_app_shows(self) -> None:
        before = self.charges()
        views = {order_id: self.read(order_id) for order_id in self.known}
        after = self.charges()
        for order_id, order in self.known.items():
            view = views[order_id]
            charged = after.get(order_id, {}).get("charges", 0)
            assert charged <= 1, f"order {order_id} charged {charged} times"
            if view["status"] == "paid":
                assert charged == 1, f"order {order_id} shows paid with {charged} charges"
                assert after[order_id]["amount_charged"] == order.amount
            if before.get(order_id, {}).get("charges", 0):
                payment = view.get("payment") or {}
                assert view["status"] == "paid" or payment.get("status") == "PENDING", (
                    f"order {order_id} was charged but shows {view['status']} with {payment}"
                )

    def teardown(self) -> None:
        try:
            deadline = time.monotonic() + SETTLE_S
            while True:
                charged = [k for k, v in self.charges().items() if v["charges"]]
                unpaid = [k for k in charged if self.read(k)["status"] != "paid"]
                if not unpaid or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            assert not unpaid, f"charged but never shown paid after {SETTLE_S}s: {unpaid}"
        finally:
            self.http.close()


@pytest.fixture(scope="module")
def webhooks_to_app(reference_app: ReferenceApp, fake_provider: FakeProvider) -> Iterator[None]:
    """The fake delivers every event of the app's account to the app's webhook endpoint."""
    endpoint = fake_provider.client.register_webhook_endpoint(
        reference_app.url + "/webhooks/provider",
        reference_app.webhook_secret,
        account=fake_provider.api_key,
    )
    yield
    fake_provider.client.delete_webhook_endpoint(str(endpoint["id"]))


@pytest.mark.slow
def test_checkout_machine(
    reference_app: ReferenceApp, fake_provider: FakeProvider, webhooks_to_app: None
) -> None:
    # Any factory works at run time; the stub only names a class.
    factory = lambda: CheckoutMachine(reference_app, fake_provider)  # noqa: E731
    run_state_machine_as_test(factory, settings=SETTINGS)  # type: ignore[arg-type]


def stray_charge(provider: FakeProvider, order: Order) -> None:
    """Charge the order's amount at the provider behind the checkout's back."""
    response = httpx.post(
        provider.url + "/v1/payment_intents",
        headers={"Authorization": f"Bearer {provider.api_key}"},
        data={
            "amount": order.amount,
            "currency": "usd",
            "payment_method": VISA,
            "confirm": "true",
            "metadata[order_id]": order.order_id,
        },
    )
    assert response.status_code == 200, response.text


def test_the_invariants_can_fail(reference_app: ReferenceApp, fake_provider: FakeProvider) -> None:
    """A second charge, and a charge the app never made, are both caught."""
    machine = CheckoutMachine(reference_app, fake_provider)
    try:
        paid = machine.known[str(machine.create_order("mug-white", 1))]
        machine.pay(paid.order_id)
        machine.money_matches_what_the_app_shows()
        stray_charge(fake_provider, paid)
        with pytest.raises(AssertionError, match="charged 2 times"):
            machine.money_matches_what_the_app_shows()
        del machine.known[paid.order_id]

        orphan = machine.known[str(machine.create_order("tee-black", 1))]
        stray_charge(fake_provider, orphan)
        with pytest.raises(AssertionError, match="was charged but shows open"):
            machine.money_matches_what_the_app_shows()
    finally:
        machine.http.close()
