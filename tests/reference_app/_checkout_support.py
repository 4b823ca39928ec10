"""Helpers shared by the reference checkout's tests (imported by conftest and tests)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]

SESSION_SECRET = "test-session-secret"
WEBHOOK_SECRET = "whsec_nodouble_test"


class FakeControl:
    """The fake's ``/_fake`` control API, just what these tests need."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def close(self) -> None:
        self.http.close()

    def order(self, order_id: str) -> dict[str, Any]:
        """Charges, declines and amounts for one order (zeros if the fake never saw it)."""
        summary = self.http.get("/_fake/summary", params={"field": "order_id"}).json()
        empty = {"charges": 0, "amount_charged": 0, "declines": 0, "refunds": 0}
        result: dict[str, Any] = summary["keys"].get(order_id, empty)
        return result

    def charges(self, order_id: str) -> list[dict[str, Any]]:
        data = self.http.get(
            "/_fake/ledger", params={"field": "order_id", "value": order_id}
        ).json()["data"]
        return [entry for entry in data if entry["kind"] == "charge"]

    def set_fault(self, **spec: Any) -> None:
        self.http.post("/_fake/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_fake/faults").raise_for_status()


class Shopper:
    """A logged-in user of the checkout API."""

    def __init__(self, base_url: str, user: str) -> None:
        self.user = user
        self.http = httpx.Client(base_url=base_url, timeout=30)
        response = self.http.post("/api/session", json={"user": user})
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.http.close()

    def new_order(self, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        items = items or [{"sku": "tee-black", "quantity": 2}]
        response = self.http.post("/api/orders", json={"items": items})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def confirm(
        self, order_id: str, key: str | None, payment_method: str = "pm_card_visa"
    ) -> httpx.Response:
        headers = {} if key is None else {"Idempotency-Key": key}
        return self.http.post(
            f"/api/orders/{order_id}/confirm",
            json={"payment_method": payment_method},
            headers=headers,
        )

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/orders/{order_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def checkout_env(db_url: str, provider_url: str, **extra: str) -> dict[str, str]:
    return {
        "NODOUBLE_DATABASE_URL": db_url,
        "NODOUBLE_PROVIDER_URL": provider_url,
        "NODOUBLE_SESSION_SECRET": SESSION_SECRET,
        "NODOUBLE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "NODOUBLE_LEASE_SECONDS": "2",
        "NODOUBLE_RECONCILE_INTERVAL_SECONDS": "0.5",
        "NODOUBLE_PROVIDER_TIMEOUT_SECONDS": "5",
        **extra,
    }


def new_key() -> str:
    return "key-" + secrets.token_hex(12)
