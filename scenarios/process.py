"""Process scenarios: the checkout dies at the worst moment and comes back."""

from __future__ import annotations

from scenarios._model import Scenario
from scenarios.steps import (
    ClearProviderFaults,
    Confirm,
    CreateOrder,
    KillTarget,
    ProviderFault,
    ReadOrder,
    Reconcile,
    RestartTarget,
)

SCENARIOS = (
    Scenario(
        id="process.kill_after_charge",
        title="The checkout is killed after the provider charged and before it committed",
        threat="crash-between-charge-and-commit",
        steps=(
            CreateOrder(),
            ProviderFault(mode="hang_after", delay_ms=3_000),
            Confirm(key="k1", timeout_s=1.0),
            KillTarget(),
            ClearProviderFaults(),
            RestartTarget(),
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
        tags=("process", "crash"),
    ),
)
