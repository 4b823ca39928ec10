"""Provider scenarios: the payment provider is slow, fails, or loses its answer.

Each is the same story with another fault: arm the fault, confirm, clear it, let a
patient client ask again (following Retry-After) and the target reconcile, then read the
order back. What differs is the fault and where in the story the retry happens.
"""

from __future__ import annotations

from scenarios._model import RECOVERY_INVARIANTS, Scenario
from scenarios.steps import (
    ClearProviderFaults,
    Confirm,
    CreateOrder,
    ProviderFault,
    ReadOrder,
    Reconcile,
    Step,
)

INVARIANTS = RECOVERY_INVARIANTS


def _story(fault: ProviderFault, *, reconcile_first: bool = False) -> tuple[Step, ...]:
    retry = Confirm(key="k1", patience=10)
    settle = (Reconcile(), retry) if reconcile_first else (retry, Reconcile())
    return (CreateOrder(), fault, Confirm(key="k1"), ClearProviderFaults(), *settle, ReadOrder())


SCENARIOS = (
    Scenario(
        id="provider.timeout_after_charge",
        title="The provider charges, then answers too late; the checkout must not charge again",
        threat="retry-after-timeout",
        steps=_story(ProviderFault(mode="hang_after", delay_ms=15_000)),
        invariants=INVARIANTS,
        tags=("provider",),
    ),
    Scenario(
        id="provider.error_before_charge",
        title="The provider fails before charging; a retry pays once",
        threat="provider-failure",
        steps=_story(ProviderFault(mode="error_before", status=500, count=3)),
        invariants=INVARIANTS,
        tags=("provider",),
    ),
    Scenario(
        id="provider.error_after_charge",
        title="The provider charges and answers 500; the customer is never told 'failed'",
        threat="provider-failure",
        steps=_story(ProviderFault(mode="error_after", status=500), reconcile_first=True),
        invariants=INVARIANTS,
        tags=("provider",),
    ),
    Scenario(
        id="provider.lost_response",
        title="The provider's answer is lost after the charge; exactly one charge",
        threat="retry-after-timeout",
        steps=_story(ProviderFault(mode="drop_after")),
        invariants=INVARIANTS,
        tags=("provider",),
    ),
)
