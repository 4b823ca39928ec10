"""Key lifecycle: keys expire after ``NODOUBLE_KEY_TTL_SECONDS``, the reaper removes them, and a
replay after expiry of a paid order still cannot charge again.

The app runs with a 2 s key TTL and a 0.5 s reaper interval. Orders are paid (one with a
declining card), their keys are checked present, then gone once the TTL has passed. The
client then replays each confirm with the same key, and with a brand-new key: the order is
already paid, so the business-key guard answers with the existing payment; the provider's
ledger must still show exactly one charge per paid order. ``reaper.reap`` is also called
directly once (it must find nothing left).
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from harness.torture._figures import SectionResult
from harness.torture._stack import Context, Shopper, audit, new_key
from reference_app import db
from reference_app.reaper import reap

TTL_SECONDS = 2.0


def _keys_present(ctx: Context, user: str, keys: list[str]) -> int:
    engine = sa.create_engine(ctx.database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT COUNT(*) FROM idempotency_keys WHERE user_id = :u "
                        "AND idempotency_key IN :keys"
                    ).bindparams(sa.bindparam("keys", expanding=True)),
                    {"u": user, "keys": keys},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def run(ctx: Context) -> SectionResult:
    result = SectionResult("lifecycle", ctx.database, "key expiry, reaper, replay")
    server = ctx.start_app(
        NODOUBLE_KEY_TTL_SECONDS=str(TTL_SECONDS), NODOUBLE_REAPER_INTERVAL_SECONDS="0.5"
    )
    shopper = Shopper(server.url)
    paid: list[tuple[str, str, str]] = []
    for i in range(ctx.scale.lifecycle_orders + 1):
        method = "pm_card_chargeDeclined" if i == 0 else "pm_card_visa"
        order_id, key = shopper.new_order(), new_key()
        first = shopper.confirm(order_id, key, method)
        result.expect("first confirm final", first.status_code in (200, 402), first.text)
        paid.append((order_id, key, method))
    keys = [key for _, key, _ in paid]
    result.figure("keys_created", _keys_present(ctx, shopper.user, keys))
    result.expect("keys stored", result.figures["keys_created"] == len(keys), result.figures)
    deadline = time.monotonic() + TTL_SECONDS + 10
    while _keys_present(ctx, shopper.user, keys) and time.monotonic() < deadline:
        time.sleep(0.3)
    left = _keys_present(ctx, shopper.user, keys)
    result.figure("keys_reaped", len(keys) - left)
    result.expect("the reaper removed every expired key", left == 0, f"{left} left")
    engine = db.make_engine(ctx.database_url)
    result.figure("reap_once_removed", reap(db.make_sessionmaker(engine)))
    engine.dispose()
    for order_id, key, method in paid:
        for replay_key in (key, new_key()):
            response = shopper.confirm(order_id, replay_key, method)
            result.add("replays_after_expiry")
            if method == "pm_card_visa":
                ok = response.status_code == 200 and response.json().get("status") == "paid"
                result.expect("a replay of a paid order answers paid", ok, response.text)
            elif response.status_code not in (200, 402):
                result.expect("a replay of a declined order is final", False, response.text)
    shopper.close()
    visa = [order for order, _, method in paid if method == "pm_card_visa"]
    outcome = audit(ctx, visa, settle_s=5)
    outcome.record(result)
    result.expect(
        "every paid order still has exactly one charge",
        outcome.paid_one_charge == len(visa),
        f"{outcome.paid_one_charge}/{len(visa)}",
    )
    return result
