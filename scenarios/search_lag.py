"""Search-before-charge under search lag: dedupe by the provider's search fails quietly.

A checkout that decides "was this order charged already?" by searching the provider for
an intent tagged with the order (instead of its own records) is right while search is
current and wrong while it lags: a new charge stays out of search results for a while.
The story: search lags, the first confirm's answer is lost for good (the checkout got no
answer from the provider), and the customer clicks again at once, which a client that
makes a key per click sends with a NEW key. Only a business-key guard on the order
(one live payment per order, in the checkout's own store) keeps it to one charge.
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
)

UNTIL_CLEARED = 1000
"""Every money-moving call is dropped after its work until ``ClearProviderFaults``."""

SCENARIOS = (
    Scenario(
        id="provider.search_lag_new_key",
        title="The first confirm's answer is lost, search lags, the client retries with a new "
        "key; still one charge",
        threat="search-lag",
        steps=(
            CreateOrder(),
            ProviderFault(mode="search_lag", lag_ms=60_000),
            ProviderFault(mode="drop_after", count=UNTIL_CLEARED),
            Confirm(key="k1"),
            Confirm(key="k2"),
            ClearProviderFaults(),
            Confirm(key="k2", patience=10),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=RECOVERY_INVARIANTS,
        tags=("provider", "search"),
        description="Both faults stay armed through the second click's first answer: a "
        "reconciler that searches finds nothing and its replay loses its answer too, so "
        "nothing can settle the first payment before the second click is decided. Then the "
        "faults are cleared and the same second key is sent until it is answered.",
    ),
)
