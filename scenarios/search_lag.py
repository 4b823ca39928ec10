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
from scenarios.capture import BEYOND_RETRIES
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
        id="provider.search_lag_new_key",
        title="The first confirm's answer is lost, search lags, the client retries with a new "
        "key; still one charge",
        threat="search-lag",
        steps=(
            CreateOrder(),
            ProviderFault(mode="search_lag", lag_ms=60_000),
            ProviderFault(mode="drop_after", count=BEYOND_RETRIES),
            Confirm(key="k1"),
            Confirm(key="k2", patience=10),
            ClearProviderFaults(),
            Reconcile(),
            ReadOrder(),
        ),
        invariants=RECOVERY_INVARIANTS,
        tags=("provider", "search"),
        description="Both faults stay armed through the retry: a reconciler that searches "
        "finds nothing and its replay loses its answer too, so it cannot settle the first "
        "payment before the retry arrives. The drops run out after a few calls (the "
        "checkout's own retries use them up) and the patient retry then gets its answer.",
    ),
)
