"""Crash matrix: SIGKILL the checkout at each recovery point of a confirm, restart, recover.

Points and how the process is stopped exactly there:

- ``after_claim``: the claim transaction committed (key leased); hook ``NODOUBLE_CRASH_AT``.
- ``after_payment_row``: the claim also created the PENDING payment row; same hook.
- ``during_provider_call``: the provider charged but holds its answer (fault ``hang_after``);
  the harness sees the charge in the ledger and SIGKILLs the process group.
- ``after_provider_call``: the provider answered, nothing recorded yet; hook.

Each point crashes ``crash_per_point`` confirms (one app process per crash, every fifth with
a declining card), then one restarted process serves the client's retries (same key) while
its reconciler runs. The audit then counts how every order ended.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import httpx

from harness.torture._figures import SectionResult
from harness.torture._stack import Context, Shopper, audit, new_key

POINTS = ("after_claim", "after_payment_row", "during_provider_call", "after_provider_call")
DECLINE = "pm_card_chargeDeclined"


def run(ctx: Context) -> SectionResult:
    result = SectionResult("crash", ctx.database, "SIGKILL at every recovery point")
    all_orders: list[str] = []
    for point in POINTS:
        victims: list[tuple[str, str, str]] = []  # (order, key, payment method)
        shopper: Shopper | None = None
        for i in range(ctx.scale.crash_per_point):
            method = DECLINE if i % 5 == 1 else "pm_card_visa"
            died = _crash_once(ctx, point, method, victims, shopper)
            shopper = died
            result.add("crashes_injected")
        restarted = ctx.start_app()
        assert shopper is not None
        shopper.rebase(restarted.url)
        for order_id, key, method in victims:
            response, statuses = shopper.confirm_until_final(order_id, key, method, 40)
            result.add("client_retries", len(statuses))
            if response is None:
                result.expect(
                    f"{point}: retry gets a final answer", False, f"{order_id}: {statuses}"
                )
            elif response.status_code >= 500:
                result.expect(f"{point}: no 5xx on retry", False, f"{order_id}: {response.text}")
        shopper.close()
        all_orders += [order for order, _, _ in victims]
        restarted.stop()
    outcome = audit(ctx, all_orders, settle_s=10)
    outcome.record(result)
    result.expect(
        "every crash was recovered",
        outcome.paid_one_charge + outcome.failed_no_charge == len(all_orders),
        f"{len(all_orders)} orders, {outcome.paid_one_charge} paid, "
        f"{outcome.failed_no_charge} failed",
    )
    result.figure("orders", len(all_orders))
    return result


def _crash_once(
    ctx: Context,
    point: str,
    method: str,
    victims: list[tuple[str, str, str]],
    shopper: Shopper | None,
) -> Shopper:
    hook = "" if point == "during_provider_call" else point
    server = ctx.start_app(NODOUBLE_CRASH_AT=hook, NODOUBLE_RECONCILE_INTERVAL_SECONDS="0")
    if shopper is None:
        shopper = Shopper(server.url)
    else:
        shopper.rebase(server.url)
    order_id = shopper.new_order()
    key = new_key()
    victims.append((order_id, key, method))
    if point == "during_provider_call":
        _kill_during_provider_call(ctx, shopper, server_kill=server.kill, order_id=order_id,
                                   key=key, method=method)  # fmt: skip
    else:
        try:
            shopper.confirm(order_id, key, method)
        except httpx.TransportError:
            pass
        else:
            raise RuntimeError(f"the app did not die at {point}")
        assert server.process is not None
        server.process.wait(10)
    server.kill()
    ctx.apps.remove(server)
    return shopper


def _kill_during_provider_call(
    ctx: Context,
    shopper: Shopper,
    *,
    server_kill: Callable[[], None],
    order_id: str,
    key: str,
    method: str,
) -> None:
    """Hold the provider's answer (it has already worked), then SIGKILL the app."""
    with ctx.fake() as fake:
        fake.set_fault("hang_after", "POST /v1/payment_intents", delay_ms=20_000, count=1)
        caller = threading.Thread(
            target=_swallow, args=(shopper, order_id, key, method), daemon=True
        )
        caller.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ledger = fake.ledger(field="order_id", value=order_id)
            if ledger:  # the provider worked (charge or decline): the answer is held
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the provider never received the charge")
        server_kill()
        fake.clear_faults()
        caller.join(30)


def _swallow(shopper: Shopper, order_id: str, key: str, method: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        shopper.confirm(order_id, key, method)
