"""Process scenarios: the checkout dies at the worst moment and comes back.

The provider charges and then holds its answer; the client gives up, the checkout is
killed before it can record the charge, and restarted. Whether the client comes back or
not, the reconciler must end with the order paid and charged once.
"""

from __future__ import annotations

from scenarios._model import RECOVERY_INVARIANTS, Scenario
from scenarios.steps import (
    ClearProviderFaults,
    Confirm,
    CreateOrder,
    KillTarget,
    ProviderFault,
    ReadOrder,
    Reconcile,
    RestartTarget,
    Step,
)


def _crash(*after_restart: Step) -> tuple[Step, ...]:
    return (
        CreateOrder(),
        ProviderFault(mode="hang_after", delay_ms=3_000),
        Confirm(key="k1", timeout_s=1.0),
        KillTarget(),
        ClearProviderFaults(),
        RestartTarget(),
        *after_restart,
        Reconcile(),
        ReadOrder(),
    )


SCENARIOS = (
    Scenario(
        id="process.kill_after_charge_client_gone",
        title="The checkout is killed after the provider charged, and the client never retries",
        threat="crash-between-charge-and-commit",
        steps=_crash(),
        invariants=RECOVERY_INVARIANTS,
        tags=("process", "crash"),
    ),
    Scenario(
        id="process.kill_after_charge",
        title="The checkout is killed after the provider charged and before it committed",
        threat="crash-between-charge-and-commit",
        steps=_crash(Confirm(key="k1", patience=10)),
        invariants=RECOVERY_INVARIANTS,
        tags=("process", "crash"),
    ),
)
