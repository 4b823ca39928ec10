"""Provider scenarios: the payment provider is slow, fails, or loses its answer."""

from __future__ import annotations

from scenarios._model import Scenario
from scenarios.steps import (
    ClearProviderFaults,
    Confirm,
    CreateOrder,
    ProviderFault,
    ReadOrder,
    Reconcile,
)

SCENARIOS = (
    Scenario(
        id="provider.timeout_after_charge",
        title="The provider charges, then answers too late; the checkout must not charge again",
        threat="retry-after-timeout",
        steps=(
            CreateOrder(),
            ProviderFault(mode="hang_after", delay_ms=15_000),
            Confirm(key="k1"),
            ClearProviderFaults(),
            Confirm(key="k1", patience=10),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(
            "at_most_one_charge",
            "success_means_one_charge",
            "told_the_truth",
            "no_lost_payment",
            "no_orphan_charge",
            "problem_on_5xx",
        ),
        tags=("provider",),
    ),
    Scenario(
        id="provider.error_before_charge",
        title="The provider fails before charging; a retry pays once",
        threat="provider-failure",
        steps=(
            CreateOrder(),
            ProviderFault(mode="error_before", status=500, count=3),
            Confirm(key="k1"),
            ClearProviderFaults(),
            Confirm(key="k1", patience=10),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(
            "at_most_one_charge",
            "success_means_one_charge",
            "told_the_truth",
            "no_lost_payment",
            "no_orphan_charge",
            "problem_on_5xx",
        ),
        tags=("provider",),
    ),
    Scenario(
        id="provider.error_after_charge",
        title="The provider charges and answers 500; the customer is never told 'failed'",
        threat="provider-failure",
        steps=(
            CreateOrder(),
            ProviderFault(mode="error_after", status=500),
            Confirm(key="k1"),
            ClearProviderFaults(),
            Reconcile(),
            Confirm(key="k1", patience=10),
            ReadOrder(),
        ),
        invariants=(
            "at_most_one_charge",
            "told_the_truth",
            "no_lost_payment",
            "no_orphan_charge",
            "problem_on_5xx",
        ),
        tags=("provider",),
    ),
    Scenario(
        id="provider.lost_response",
        title="The provider's answer is lost after the charge; exactly one charge",
        threat="retry-after-timeout",
        steps=(
            CreateOrder(),
            ProviderFault(mode="drop_after"),
            Confirm(key="k1"),
            ClearProviderFaults(),
            Confirm(key="k1", patience=10),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(
            "at_most_one_charge",
            "success_means_one_charge",
            "told_the_truth",
            "no_lost_payment",
            "no_orphan_charge",
            "problem_on_5xx",
        ),
        tags=("provider",),
    ),
)
