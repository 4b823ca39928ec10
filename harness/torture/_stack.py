"""What every torture section shares: the context, app processes, a shopper and the audit.

The audit is the oracle: it reads the checkout's own tables and the fake provider's ledger
for a list of orders and counts how each ended (paid with exactly one charge, failed with
none, charged twice, charged but not paid = lost, still unsettled).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess
from harness.torture._figures import SectionResult

APP_FACTORY = "reference_app.app:create_app"
SESSION_SECRET = "torture-session-secret"
WEBHOOK_SECRET = "whsec_torture"
FINAL = frozenset({200, 402})
RETRYABLE = frozenset({202, 409, 503})
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Scale:
    name: str
    crash_per_point: int
    db_confirms: int
    db_deadlocks: int
    provider_repeats: int
    outage_seconds: float
    outage_orders: int
    webhook_events: int
    fuzz_cases: int
    form_examples: int
    lifecycle_orders: int


SCALES = {
    "full": Scale("full", 25, 60, 25, 3, 10.0, 10, 1000, 1000, 2000, 10),
    "quick": Scale("quick", 2, 12, 3, 1, 2.0, 3, 100, 150, 200, 3),
}


@dataclass
class Context:
    """Where a section runs: one database, one fake provider, a scratch folder."""

    database: str
    """``postgresql``, ``mariadb`` or ``sqlite``."""
    database_url: str
    scale: Scale
    workdir: Path
    provider_url: str
    apps: list[ServerProcess] = field(default_factory=list)

    def fake(self) -> FakeProviderClient:
        return FakeProviderClient(self.provider_url, timeout=30)

    def app_env(self, **extra: str) -> dict[str, str]:
        return {
            "NODOUBLE_DATABASE_URL": self.database_url,
            "NODOUBLE_PROVIDER_URL": self.provider_url,
            "NODOUBLE_SESSION_SECRET": SESSION_SECRET,
            "NODOUBLE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "NODOUBLE_LEASE_SECONDS": "1",
            "NODOUBLE_RECONCILE_INTERVAL_SECONDS": "0.5",
            "NODOUBLE_PROVIDER_TIMEOUT_SECONDS": "3",
            "NODOUBLE_CRASH_AT": "",
            **extra,
        }

    def start_app(self, **extra: str) -> ServerProcess:
        """A real reference_app process on this context's database (stopped by ``close``)."""
        server = ServerProcess(
            APP_FACTORY,
            env=self.app_env(**extra),
            log_path=self.workdir / f"app-{len(self.apps)}.log",
        )
        self.apps.append(server)
        return server.start(timeout=60)

    def close(self) -> None:
        for server in self.apps:
            server.stop()
        self.apps.clear()


class Shopper:
    """A logged-in user of the checkout's JSON API."""

    def __init__(self, base_url: str, user: str | None = None, timeout: float = 30) -> None:
        self.user = user or "tort-" + secrets.token_hex(5)
        self.http = httpx.Client(base_url=base_url, timeout=timeout)
        self.malformed_503: list[str] = []
        response = self.http.post("/api/session", json={"user": self.user})
        if response.status_code != 200:
            raise RuntimeError(f"login as {self.user} answered {response.status_code}")

    def close(self) -> None:
        self.http.close()

    def rebase(self, base_url: str) -> None:
        """Talk to another (restarted) app process, keeping the session cookie."""
        cookies = self.http.cookies
        self.http.close()
        self.http = httpx.Client(base_url=base_url, timeout=self.http.timeout, cookies=cookies)

    def new_order(self, sku: str = "tee-black", quantity: int = 1) -> str:
        response = self.http.post(
            "/api/orders", json={"items": [{"sku": sku, "quantity": quantity}]}
        )
        if response.status_code != 201:
            raise RuntimeError(
                f"creating an order answered {response.status_code}: {response.text}"
            )
        order_id: str = response.json()["order_id"]
        return order_id

    def confirm(self, order_id: str, key: str, method: str = "pm_card_visa") -> httpx.Response:
        return self.http.post(
            f"/api/orders/{order_id}/confirm",
            json={"payment_method": method},
            headers={"Idempotency-Key": key},
        )

    def confirm_until_final(
        self, order_id: str, key: str, method: str = "pm_card_visa", deadline_s: float = 30
    ) -> tuple[httpx.Response | None, list[int]]:
        """Retry with the same key while the answer says "retry"; (final answer, statuses)."""
        deadline = time.monotonic() + deadline_s
        statuses: list[int] = []
        while True:
            try:
                response = self.confirm(order_id, key, method)
            except httpx.TransportError:
                statuses.append(0)
            else:
                statuses.append(response.status_code)
                if response.status_code == 503 and (
                    response.headers.get("content-type") != PROBLEM
                    or not response.headers.get("retry-after")
                ):
                    self.malformed_503.append(f"{dict(response.headers)} {response.text[:200]}")
                if response.status_code not in RETRYABLE:
                    return response, statuses
            if time.monotonic() > deadline:
                return None, statuses
            time.sleep(0.25)


def new_key() -> str:
    return "tk-" + secrets.token_hex(12)


@dataclass
class Audit:
    orders: int = 0
    paid_one_charge: int = 0
    failed_no_charge: int = 0
    double_charges: int = 0
    lost_payments: int = 0
    unsettled: int = 0
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, result: SectionResult) -> None:
        for name in (
            "paid_one_charge",
            "failed_no_charge",
            "double_charges",
            "lost_payments",
            "unsettled",
        ):
            result.figure(name, getattr(self, name))
        result.expect(
            "no double charge", self.double_charges == 0, self.examples.get("double_charges")
        )
        result.expect(
            "no lost payment", self.lost_payments == 0, self.examples.get("lost_payments")
        )
        result.expect("every order settled", self.unsettled == 0, self.examples.get("unsettled"))


def order_states(database_url: str, order_ids: list[str]) -> dict[str, tuple[str, list[str]]]:
    """order id -> (order status, statuses of its payments) read from the checkout's tables."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            states: dict[str, tuple[str, list[str]]] = {}
            for chunk in range(0, len(order_ids), 500):
                ids = order_ids[chunk : chunk + 500]
                orders = conn.execute(
                    sa.text("SELECT id, status FROM orders WHERE id IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"ids": ids},
                ).all()
                payments = conn.execute(
                    sa.text(
                        "SELECT order_id, status FROM payments WHERE order_id IN :ids"
                    ).bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": ids},
                ).all()
                for order_id, status in orders:
                    states[str(order_id)] = (str(status), [])
                for order_id, status in payments:
                    states[str(order_id)][1].append(str(status))
            return states
    finally:
        engine.dispose()


def audit(ctx: Context, order_ids: list[str], *, settle_s: float = 0) -> Audit:
    """Count how the orders ended; wait up to ``settle_s`` for PENDING ones to settle."""
    deadline = time.monotonic() + settle_s
    while True:
        result = _audit_once(ctx, order_ids)
        if result.unsettled == 0 or time.monotonic() >= deadline:
            return result
        time.sleep(0.5)


def _audit_once(ctx: Context, order_ids: list[str]) -> Audit:
    with ctx.fake() as fake:
        keys: Mapping[str, Any] = fake.summary()["keys"]
    states = order_states(ctx.database_url, order_ids)
    result = Audit(orders=len(order_ids))

    def example(name: str, text: str) -> None:
        result.examples.setdefault(name, text)

    for order_id in order_ids:
        charges = int(keys.get(order_id, {}).get("charges", 0))
        status, payments = states.get(order_id, ("missing", []))
        if charges > 1:
            result.double_charges += 1
            example("double_charges", f"{order_id}: {charges} charges, order {status}")
        if charges >= 1 and status != "paid":
            result.lost_payments += 1
            example("lost_payments", f"{order_id}: charged but order {status} {payments}")
        elif status == "paid" and charges == 1:
            result.paid_one_charge += 1
        elif status == "paid" and charges == 0:
            result.unsettled += 1
            example("unsettled", f"{order_id}: paid without a charge at the provider")
        elif status == "open" and charges == 0 and "PENDING" not in payments:
            if payments:
                result.failed_no_charge += 1
            else:
                result.unsettled += 1
                example("unsettled", f"{order_id}: open with no payment at all")
        elif charges == 0:
            result.unsettled += 1
            example("unsettled", f"{order_id}: order {status}, payments {payments}")
    return result
