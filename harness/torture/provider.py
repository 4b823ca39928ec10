"""Provider faults: every fault mode of the fake on every endpoint the checkout uses.

The checkout calls two endpoints: ``POST /v1/payment_intents`` (create and confirm, from a
confirm and from the reconciler) and ``GET /v1/payment_intents/search`` (the reconciler).

- create: the fault is armed for enough calls to exhaust the client's retries (``hang_after``
  and ``delay``: two calls), then one confirm is sent. Its answer must be 200 (paid) or 202
  (processing): never 402 "declined" for a card that works, never a 5xx.
- search: create first loses its answers (``drop_after`` for every attempt, so the charge is
  made and the payment stays PENDING), and the search fault is armed for the reconciler's
  next passes; the order must stay unpaid-but-not-failed until the fault is cleared.
- outage: every provider request answers 503 for ``outage_seconds`` while orders confirm;
  every answer is 202, and once the provider is back each order ends paid, charged once.

Afterwards the client retries with the same key until a final answer, and the audit counts.
"""

from __future__ import annotations

import time
from typing import Any

from harness.torture._figures import SectionResult
from harness.torture._stack import Context, Shopper, audit, new_key

ENDPOINTS = {"create": "POST /v1/payment_intents", "search": "GET /v1/payment_intents/search"}
MODES: list[tuple[str, dict[str, Any]]] = [
    ("delay", {"delay_ms": 500}),
    ("error_before 500", {"mode": "error_before", "status": 500}),
    ("error_before 503", {"mode": "error_before", "status": 503}),
    ("error_before 429", {"mode": "error_before", "status": 429}),
    ("error_after", {"status": 500}),
    ("drop_after", {}),
    ("hang_after", {"delay_ms": 2000}),
    ("in_flight", {}),
]
ATTEMPTS = 4  # the app's provider_max_attempts
TIMEOUT = "1.5"  # the app's provider timeout in this section (hang_after holds 2 s)


def run(ctx: Context) -> SectionResult:
    result = SectionResult("provider", ctx.database, "every fault mode on every endpoint")
    server = ctx.start_app(
        NODOUBLE_PROVIDER_TIMEOUT_SECONDS=TIMEOUT, NODOUBLE_RECONCILE_INTERVAL_SECONDS="0.3"
    )
    shopper = Shopper(server.url)
    fake = ctx.fake()
    pending: list[tuple[str, str]] = []
    try:
        for label, spec in MODES:
            mode = spec.get("mode", label)
            options = {k: v for k, v in spec.items() if k != "mode"}
            for _ in range(ctx.scale.provider_repeats):
                pending.append(_create_fault(fake, shopper, result, label, mode, options))
                pending.append(_search_fault(fake, shopper, result, label, mode, options))
        pending += _outage(ctx, fake, shopper, result)
    finally:
        fake.clear_faults()
    for order_id, key in pending:
        response, statuses = shopper.confirm_until_final(order_id, key, deadline_s=30)
        status = None if response is None else response.status_code
        if status != 200:
            result.expect(
                "recovered: paid once the provider is back", False, f"{order_id}: {statuses}"
            )
    fake.close()
    shopper.close()
    result.figure("fault_cases", len(pending))
    audit(ctx, [order for order, _ in pending], settle_s=15).record(result)
    return result


def _answer(result: SectionResult, case: str, status: int, body: str) -> None:
    result.add(f"answered_{status}")
    if status == 402:
        result.expect(f"{case}: never 'declined' for a working card", False, body[:300])
    elif status >= 500:
        result.expect(f"{case}: never a 5xx", False, body[:300])
    elif status not in (200, 202):
        result.expect(f"{case}: paid or processing", False, f"{status} {body[:300]}")


def _create_fault(
    fake: Any, shopper: Shopper, result: SectionResult, label: str, mode: str, options: Any
) -> tuple[str, str]:
    count = 2 if mode in ("delay", "hang_after") else ATTEMPTS
    order_id, key = shopper.new_order(), new_key()
    fake.set_fault(mode, ENDPOINTS["create"], count=count, **options)
    response = shopper.confirm(order_id, key)
    _answer(result, f"create/{label}", response.status_code, response.text)
    fake.clear_faults()
    result.add("faults_injected")
    return order_id, key


def _search_fault(
    fake: Any, shopper: Shopper, result: SectionResult, label: str, mode: str, options: Any
) -> tuple[str, str]:
    order_id, key = shopper.new_order(), new_key()
    fake.set_fault(mode, ENDPOINTS["search"], count=6, **options)
    fake.set_fault("drop_after", ENDPOINTS["create"], count=ATTEMPTS)
    response = shopper.confirm(order_id, key)
    _answer(result, f"search/{label}", response.status_code, response.text)
    time.sleep(0.5)  # the reconciler meets the search fault
    view = shopper.http.get(f"/api/orders/{order_id}").json()
    payment = view.get("payment") or {}
    if payment.get("status") == "FAILED":
        result.expect(f"search/{label}: a charged order is never failed", False, str(view))
    fake.clear_faults()
    result.add("faults_injected")
    return order_id, key


def _outage(
    ctx: Context, fake: Any, shopper: Shopper, result: SectionResult
) -> list[tuple[str, str]]:
    fake.set_fault("error_before", "*", status=503, probability=1.0)
    started = time.monotonic()
    orders: list[tuple[str, str]] = []
    for _ in range(ctx.scale.outage_orders):
        order_id, key = shopper.new_order(), new_key()
        response = shopper.confirm(order_id, key)
        _answer(result, "outage", response.status_code, response.text)
        if response.status_code != 202:
            result.expect(
                "outage: processing (202) while the provider is down", False, response.text
            )
        orders.append((order_id, key))
    time.sleep(max(0.0, ctx.scale.outage_seconds - (time.monotonic() - started)))
    fake.clear_faults()
    result.figure("outage_seconds", round(time.monotonic() - started, 1))
    result.figure("outage_orders", len(orders))
    return orders
