"""API scenarios: what concurrent and retrying HTTP clients do to a confirm endpoint."""

from __future__ import annotations

from harness.types import Capability
from scenarios._model import DEFAULT_INVARIANTS, Scenario
from scenarios.steps import (
    Burst,
    Confirm,
    CreateOrder,
    NetworkFault,
    ProviderFault,
    ReadOrder,
    Reconcile,
    Sleep,
)

KEYS: tuple[Capability, ...] = ("idempotency_key",)
"""Scenarios about the client's key itself apply only to checkouts that take one."""

SCENARIOS = (
    Scenario(
        id="api.same_key_sequential",
        title="The same confirm sent twice with one key replays the first answer",
        threat="refresh-resubmit",
        steps=(CreateOrder(), Confirm(key="k1"), Confirm(key="k1"), Reconcile(), ReadOrder()),
        tags=("api", "replay"),
    ),
    Scenario(
        id="api.parallel_same_key",
        title="Many confirms with one key, released together, charge once",
        threat="race-conditions",
        steps=(CreateOrder(), Burst(n=20, same_key=True), Reconcile(), ReadOrder()),
        rounds=5,
        tags=("api", "race"),
    ),
    Scenario(
        id="api.parallel_different_keys",
        title="Many confirms for one order with different keys charge once",
        threat="multiple-tabs",
        steps=(CreateOrder(), Burst(n=20, same_key=False), Reconcile(), ReadOrder()),
        rounds=5,
        tags=("api", "race"),
    ),
    Scenario(
        id="api.same_key_staggered",
        title="Confirms with one key sent 15 ms apart, straddling the first one's completion, "
        "charge once",
        threat="race-conditions",
        steps=(CreateOrder(), Burst(n=12, same_key=True, stagger_ms=15), Reconcile(), ReadOrder()),
        rounds=5,
        tags=("api", "race"),
        description="A check-then-set guard (look the key up, then store it) lets a request "
        "that arrives just as the first one finishes slip between the check and the set.",
    ),
    Scenario(
        id="api.same_key_staggered_slow_provider",
        title="Confirms with one key sent 60 ms apart while the provider takes 300 ms charge once",
        threat="race-conditions",
        steps=(
            CreateOrder(),
            ProviderFault(mode="delay", delay_ms=300),
            Burst(n=8, same_key=True, stagger_ms=60),
            Reconcile(),
            ReadOrder(),
        ),
        rounds=3,
        tags=("api", "race", "provider"),
    ),
    Scenario(
        id="api.different_keys_while_slow",
        title="Confirms with different keys arrive while the provider is still charging the "
        "first; one charge",
        threat="multiple-tabs",
        steps=(
            CreateOrder(),
            ProviderFault(mode="delay", delay_ms=1_200),
            Burst(n=4, same_key=False),
            Sleep(ms=1_500),  # let the slow first charge land before anything is read
            Reconcile(),
            ReadOrder(),
        ),
        rounds=2,
        tags=("api", "race", "provider"),
        description="A checkout that answers the provider's 409 (a request with the same "
        "provider key is still running) by retrying with a fresh provider key charges twice.",
    ),
    Scenario(
        id="api.timeout_then_retry",
        title="The answer is lost on the wire after the checkout charged; the retry charges once",
        threat="retry-after-timeout",
        steps=(
            CreateOrder(),
            NetworkFault(rule="drop_response"),
            Confirm(key="k1", through_proxy=True),
            Confirm(key="k1", through_proxy=True),
            Reconcile(),
            ReadOrder(),
        ),
        tags=("api", "network"),
    ),
    Scenario(
        id="api.retry_while_in_flight",
        title="The client stops waiting while the provider is slow and retries with the same "
        "key; one charge",
        threat="retry-after-timeout",
        steps=(
            CreateOrder(),
            ProviderFault(mode="delay", delay_ms=2_000),
            Confirm(key="k1", timeout_s=0.8),
            Confirm(key="k1", patience=10),
            Sleep(ms=2_500),  # let the slow first call land before the ledger is read
            Reconcile(),
            ReadOrder(),
        ),
        tags=("api", "provider"),
    ),
    Scenario(
        id="api.tampered_amount",
        title="A confirm naming a forged amount is refused; the order is charged its own amount",
        threat="key-reuse",
        steps=(
            CreateOrder(),
            Confirm(key="k1", change="amount"),
            Confirm(key="k2"),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(*DEFAULT_INVARIANTS, "charge_matches_order"),
        tags=("api", "validation"),
    ),
    Scenario(
        id="api.duplicate_delivery",
        title="The network delivers one confirm twice; the customer is charged once",
        threat="retry-after-timeout",
        steps=(
            CreateOrder(),
            NetworkFault(rule="duplicate_request"),
            Confirm(key="k1", through_proxy=True),
            Reconcile(),
            ReadOrder(),
        ),
        tags=("api", "network"),
    ),
    Scenario(
        id="api.key_reused_other_body",
        title="A key reused with another payment method is refused, not replayed",
        threat="key-reuse",
        steps=(
            CreateOrder(),
            Confirm(key="k1"),
            Confirm(key="k1", change="payment_method"),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(*DEFAULT_INVARIANTS, "changed_body_refused"),
        tags=("api", "validation"),
        extra_needs=(*KEYS, "payment_method"),
    ),
    Scenario(
        id="api.missing_key",
        title="A confirm without an Idempotency-Key is refused before anything is charged",
        threat="key-reuse",
        steps=(CreateOrder(), Confirm(key=None), Reconcile(), ReadOrder()),
        pays=False,
        invariants=(*DEFAULT_INVARIANTS, "missing_key_refused"),
        tags=("api", "validation"),
        extra_needs=KEYS,
    ),
    Scenario(
        id="api.other_users_key",
        title="Bob reuses alice's key, on his own order and on hers; he never gets her answer",
        threat="key-reuse",
        steps=(
            CreateOrder(order="o1", user="alice"),
            CreateOrder(order="o2", user="bob"),
            Confirm(order="o1", key="shared", user="alice"),
            Confirm(order="o2", key="shared", user="bob"),
            Confirm(order="o1", key="shared", user="bob"),
            Reconcile(),
            ReadOrder(order="o1", user="alice"),
            ReadOrder(order="o2", user="bob"),
        ),
        invariants=(*DEFAULT_INVARIANTS, "keys_user_scoped"),
        tags=("api", "access"),
        extra_needs=KEYS,
        description="A refusal of bob is a correct answer; a replay of alice's answer to "
        "bob (naming her order, or about her order) leaks another customer's payment.",
    ),
)
