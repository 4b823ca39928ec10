"""API scenarios: what concurrent and retrying HTTP clients do to a confirm endpoint."""

from __future__ import annotations

from scenarios._model import DEFAULT_INVARIANTS, Scenario
from scenarios.steps import (
    Burst,
    Confirm,
    CreateOrder,
    NetworkFault,
    ProviderFault,
    ReadOrder,
    Sleep,
)

SCENARIOS = (
    Scenario(
        id="api.same_key_sequential",
        title="The same confirm sent twice with one key replays the first answer",
        threat="refresh-resubmit",
        steps=(CreateOrder(), Confirm(key="k1"), Confirm(key="k1"), ReadOrder()),
        tags=("api", "replay"),
    ),
    Scenario(
        id="api.parallel_same_key",
        title="Many confirms with one key, released together, charge once",
        threat="race-conditions",
        steps=(CreateOrder(), Burst(n=20, same_key=True), ReadOrder()),
        rounds=5,
        tags=("api", "race"),
    ),
    Scenario(
        id="api.parallel_different_keys",
        title="Many confirms for one order with different keys charge once",
        threat="multiple-tabs",
        steps=(CreateOrder(), Burst(n=20, same_key=False), ReadOrder()),
        rounds=5,
        tags=("api", "race"),
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
            Confirm(key="k1", tamper=True),
            Confirm(key="k2"),
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
            ReadOrder(),
        ),
        tags=("api", "network"),
    ),
    Scenario(
        id="api.key_reused_other_body",
        title="A key reused with another body (and a forged amount) is refused",
        threat="key-reuse",
        steps=(CreateOrder(), Confirm(key="k1"), Confirm(key="k1", tamper=True), ReadOrder()),
        invariants=(*DEFAULT_INVARIANTS, "changed_body_refused"),
        tags=("api", "validation"),
    ),
    Scenario(
        id="api.missing_key",
        title="A confirm without an Idempotency-Key is refused before anything is charged",
        threat="key-reuse",
        steps=(CreateOrder(), Confirm(key=None), ReadOrder()),
        invariants=(*DEFAULT_INVARIANTS, "missing_key_refused"),
        tags=("api", "validation"),
    ),
    Scenario(
        id="api.other_users_key",
        title="Another user's key never replays the first user's answer",
        threat="key-reuse",
        steps=(
            CreateOrder(order="o1", user="alice"),
            CreateOrder(order="o2", user="bob"),
            Confirm(order="o1", key="shared", user="alice"),
            Confirm(order="o2", key="shared", user="bob"),
            ReadOrder(order="o1", user="alice"),
            ReadOrder(order="o2", user="bob"),
        ),
        invariants=(*DEFAULT_INVARIANTS, "keys_user_scoped"),
        tags=("api", "access"),
    ),
)
