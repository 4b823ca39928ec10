"""Database faults: backends killed mid-transaction (PostgreSQL), deadlocks (MariaDB).

PostgreSQL: the app connects with ``application_name=nodouble_torture``; while shoppers
confirm orders (several threads released together), a killer thread runs
``pg_terminate_backend`` on every one of the app's backends that is inside a transaction.
The app reruns the transaction on a fresh connection or answers 503 problem+json with
Retry-After; the shopper retries with the same key.

MariaDB: a torture connection makes itself heavy (it updates ballast rows), locks an order,
waits until the app's confirm of that order holds its idempotency-key row and waits for the
order, then asks for that key row: a lock cycle InnoDB breaks by rolling back the lighter
transaction, the app's, which ``db.transaction`` reruns. Concurrent confirms of the same
orders under different keys run alongside. ``Innodb_deadlocks`` counts what InnoDB saw.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import sqlalchemy as sa

from harness.torture._figures import SectionResult
from harness.torture._stack import Context, Shopper, audit, new_key

APPLICATION_NAME = "nodouble_torture"
DATABASES = frozenset({"postgresql", "mariadb"})


def run(ctx: Context) -> SectionResult:
    if ctx.database == "postgresql":
        return _terminate_backends(ctx)
    if ctx.database == "mariadb":
        return _deadlocks(ctx)
    return SectionResult("database", ctx.database, applicable=False)


def _with_query(url: str, **params: str) -> str:
    parsed = sa.engine.make_url(url)
    return parsed.update_query_dict(params).render_as_string(hide_password=False)


# -- PostgreSQL --------------------------------------------------------------------------------


def _terminate_backends(ctx: Context) -> SectionResult:
    result = SectionResult("database", ctx.database, "pg_terminate_backend mid-transaction")
    app_url = _with_query(ctx.database_url, application_name=APPLICATION_NAME)
    server = ctx.start_app(NODOUBLE_DATABASE_URL=app_url)
    stop = threading.Event()
    killed = [0]
    admin = sa.create_engine(ctx.database_url, isolation_level="AUTOCOMMIT")

    def killer() -> None:
        with admin.connect() as conn:
            while not stop.is_set():
                rows = conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND application_name = :name "
                        "AND state IN ('active', 'idle in transaction')"
                    ),
                    {"name": APPLICATION_NAME},
                ).all()
                killed[0] += sum(1 for (ok,) in rows if ok)
                time.sleep(0.02)

    n = ctx.scale.db_confirms
    shoppers = [Shopper(server.url) for _ in range(4)]
    orders = [(shoppers[i % 4], shoppers[i % 4].new_order(), new_key()) for i in range(n)]
    barrier = threading.Barrier(4)
    statuses: list[list[int]] = []
    lock = threading.Lock()

    def confirm(worker: int) -> None:
        barrier.wait()
        for shopper, order_id, key in orders[worker::4]:
            response, seen = shopper.confirm_until_final(order_id, key, deadline_s=60)
            with lock:
                statuses.append(seen)
                if response is None:
                    result.expect("a final answer after retries", False, f"{order_id}: {seen}")

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(confirm, range(4)))
    finally:
        stop.set()
        thread.join(10)
        admin.dispose()
    flat = [s for seen in statuses for s in seen]
    result.figure("confirms", n)
    result.figure("backends_terminated", killed[0])
    result.figure("answers_503", flat.count(503))
    result.figure("answers_500", flat.count(500))
    result.figure("transport_errors", flat.count(0))
    result.expect("backends were really terminated", killed[0] > 0, "none terminated")
    result.expect("no 500 (only retries or 503)", flat.count(500) == 0, f"{flat.count(500)}x 500")
    malformed = [problem for shopper in shoppers for problem in shopper.malformed_503]
    result.expect("every 503 is problem+json with Retry-After", not malformed, malformed[:1])
    for shopper in shoppers:
        shopper.close()
    audit(ctx, [o for _, o, _ in orders], settle_s=15).record(result)
    return result


# -- MariaDB ----------------------------------------------------------------------------------


def _innodb_deadlocks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")).one()
        return int(row[1])


def _deadlocks(ctx: Context) -> SectionResult:
    result = SectionResult("database", ctx.database, "deadlocks on MariaDB")
    server = ctx.start_app()
    engine = sa.create_engine(ctx.database_url, isolation_level="READ COMMITTED")
    before = _innodb_deadlocks(engine)
    shopper = Shopper(server.url)
    ballast = [shopper.new_order() for _ in range(30)]
    orders: list[str] = []
    victims = {"app": 0, "torture": 0}
    for _ in range(ctx.scale.db_deadlocks):
        order_id = shopper.new_order()
        orders.append(order_id)
        key = new_key()
        outcome: dict[str, object] = {}

        def pay(order_id: str = order_id, key: str = key, box: dict[str, object] = outcome) -> None:
            response, seen = shopper.confirm_until_final(order_id, key, deadline_s=60)
            box["response"], box["seen"] = response, seen

        with engine.connect() as conn:
            trans = conn.begin()
            conn.execute(
                sa.text("UPDATE orders SET updated_at = :t WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": ballast, "t": datetime(2000, 1, 1, 0, 0, len(orders) % 60)},
            )
            conn.execute(
                sa.text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id}
            )
            caller = threading.Thread(target=pay, daemon=True)
            caller.start()
            _wait_for_key_lock(engine, shopper.user, key)
            time.sleep(0.05)  # let it reach the locked order
            try:
                conn.execute(
                    sa.text(
                        "SELECT id FROM idempotency_keys WHERE user_id = :u "
                        "AND idempotency_key = :k FOR UPDATE"
                    ),
                    {"u": shopper.user, "k": key},
                )
                victims["app"] += 1
            except sa.exc.OperationalError as exc:
                if "1213" not in str(exc.orig.args[0] if exc.orig else ""):
                    raise
                victims["torture"] += 1
            finally:
                trans.rollback()
            caller.join(60)
        response = outcome.get("response")
        status = getattr(response, "status_code", None)
        if status != 200:
            result.expect("the deadlocked confirm still pays", False, f"{order_id}: {outcome}")
    # Natural contention: confirms of the same orders under different keys, released together.
    contended = [shopper.new_order() for _ in range(ctx.scale.db_deadlocks)]
    barrier = threading.Barrier(4)

    def racer(worker: int) -> None:
        racer_shopper = Shopper(server.url, user=shopper.user)
        barrier.wait()
        for order_id in contended:
            racer_shopper.confirm_until_final(order_id, new_key(), deadline_s=60)
        racer_shopper.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(racer, range(4)))
    after = _innodb_deadlocks(engine)
    engine.dispose()
    shopper.close()
    result.figure("forced_lock_cycles", ctx.scale.db_deadlocks)
    result.figure("app_rolled_back", victims["app"])
    result.figure("torture_rolled_back", victims["torture"])
    result.figure("innodb_deadlocks", after - before)
    result.figure("contended_orders", len(contended))
    result.expect("InnoDB really saw deadlocks", after - before > 0, f"{after - before}")
    result.expect("the app was a deadlock victim and recovered", victims["app"] > 0, f"{victims}")
    audit(ctx, orders + contended, settle_s=15).record(result)
    return result


def _wait_for_key_lock(engine: sa.Engine, user: str, key: str, timeout: float = 10) -> None:
    """Until the app's confirm holds its idempotency-key row (a NOWAIT probe hits its lock)."""
    deadline = time.monotonic() + timeout
    probe = sa.text(
        "SELECT id FROM idempotency_keys WHERE user_id = :u AND idempotency_key = :k "
        "FOR UPDATE NOWAIT"
    )
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            try:
                with conn.begin():
                    conn.execute(probe, {"u": user, "k": key}).all()
            except sa.exc.OperationalError:
                return  # locked by the app's claim transaction
            time.sleep(0.01)
    raise RuntimeError("the app's confirm never locked its idempotency key")
