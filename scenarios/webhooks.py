"""Webhook scenarios: events arrive twice, late, out of order, or forged."""

from __future__ import annotations

from scenarios._model import DEFAULT_INVARIANTS, Scenario
from scenarios.steps import (
    Confirm,
    CreateOrder,
    ForgeWebhook,
    ListenWebhooks,
    ReadOrder,
    Reconcile,
    ReplayWebhooks,
    WaitWebhooks,
)

SCENARIOS = (
    Scenario(
        id="webhooks.duplicate",
        title="Every provider event is delivered three times; the order is paid once",
        threat="duplicated-webhook",
        steps=(
            ListenWebhooks(duplicate=3),
            CreateOrder(),
            Confirm(key="k1"),
            WaitWebhooks(),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(*DEFAULT_INVARIANTS, "webhooks_accepted"),
        tags=("webhooks",),
    ),
    Scenario(
        id="webhooks.out_of_order",
        title="Old events are resent after newer ones; a paid order stays paid",
        threat="duplicated-webhook",
        steps=(
            ListenWebhooks(duplicate=1, shuffle=True),
            CreateOrder(),
            Confirm(key="k1", payment_method="pm_card_chargeDeclined"),
            Confirm(key="k2"),
            WaitWebhooks(),
            ReplayWebhooks(times=2),
            WaitWebhooks(),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(*DEFAULT_INVARIANTS, "webhooks_accepted"),
        tags=("webhooks",),
    ),
    Scenario(
        id="webhooks.forged",
        title="A forged or stale 'payment succeeded' event does not mark an order paid",
        threat="forged-webhook",
        steps=(
            CreateOrder(),
            ForgeWebhook(how="bad_signature"),
            ForgeWebhook(how="stale"),
            ForgeWebhook(how="unsigned"),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=(*DEFAULT_INVARIANTS, "forged_webhooks_rejected"),
        pays=False,
        tags=("webhooks", "access"),
    ),
)
