"""``NODOUBLE_CAPTURE_METHOD``: the default capture mode, and whether manual is allowed.

A checkout process per setting (SQLite), against the session's fake provider.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from _checkout_support import FakeControl, checkout_env

from harness._process import ServerProcess
from reference_app.authorization import capture_method_for
from reference_app.config import ConfigError, Settings


@contextmanager
def client(tmp_path: Path, provider_url: str, capture_method: str) -> Iterator[httpx.Client]:
    env = checkout_env(
        f"sqlite:///{tmp_path / 'capture.sqlite3'}", provider_url,
        NODOUBLE_CAPTURE_METHOD=capture_method,
    )  # fmt: skip
    with (
        ServerProcess("reference_app.app:create_app", env=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as test,
    ):
        login = test.post("/api/session", json={"user": "u" + secrets.token_hex(4)})
        assert login.status_code == 200
        yield test


def confirm(test: httpx.Client, body: dict[str, str]) -> tuple[str, int, dict[str, object]]:
    order = test.post("/api/orders", json={"items": [{"sku": "tee-black", "quantity": 1}]})
    order_id = order.json()["order_id"]
    answer = test.post(
        f"/api/orders/{order_id}/confirm",
        json={"payment_method": "pm_card_visa", **body},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    return order_id, answer.status_code, answer.json()


def test_manual_setting_authorises_unless_the_confirm_asks_automatic(
    tmp_path: Path, fake_server: ServerProcess, fake: FakeControl
) -> None:
    with client(tmp_path, fake_server.url, "manual") as test:
        order_id, status, body = confirm(test, {})
        assert (status, body["status"]) == (200, "authorized")
        assert fake.charges(order_id) == []
        order_id, status, body = confirm(test, {"capture_method": "automatic"})
        assert (status, body["status"]) == (200, "paid")
        assert len(fake.charges(order_id)) == 1


def test_automatic_only_refuses_manual_capture(
    tmp_path: Path, fake_server: ServerProcess, fake: FakeControl
) -> None:
    with client(tmp_path, fake_server.url, "automatic_only") as test:
        order_id, status, body = confirm(test, {"capture_method": "manual"})
        assert status == 422
        assert body["type"].endswith("manual-capture-off")
        assert fake.order(order_id)["charges"] == 0
        order_id, status, body = confirm(test, {})
        assert (status, body["status"]) == (200, "paid")


def test_a_page_confirm_takes_the_money_at_once_even_under_the_manual_setting(
    tmp_path: Path, fake_server: ServerProcess, fake: FakeControl
) -> None:
    """Manual capture is API-only: the pages have no capture step, so their confirm asks
    for automatic capture whatever NODOUBLE_CAPTURE_METHOD says, and lands on success."""
    with client(tmp_path, fake_server.url, "manual") as test:
        shop = test.get("/shop")
        token = _field(CSRF_FIELD, shop.text)
        made = test.post(
            "/checkout", data={"sku": "mug-white", "quantity": "1", "csrf_token": token}
        )
        assert made.status_code == 303, made.text
        order_id = made.headers["location"].removeprefix("/checkout/")
        page = test.get(f"/checkout/{order_id}")
        csrf_token, key = _field(CSRF_FIELD, page.text), _field(KEY_FIELD, page.text)
        form = {"csrf_token": csrf_token, "confirm_key": key, "payment_method": "pm_card_visa"}
        paid = test.post(f"/checkout/{order_id}/confirm", data=form)
        assert (paid.status_code, paid.headers["location"]) == (303, f"/success?orderId={order_id}")
        assert 'data-testid="success"' in test.get(paid.headers["location"]).text
        shown = test.get(f"/api/orders/{order_id}").json()
        assert (shown["status"], shown["payment"]["capture_method"]) == ("paid", "automatic")
        assert len(fake.charges(order_id)) == 1


def _field(pattern: re.Pattern[str], html: str) -> str:
    match = pattern.search(html)
    assert match, f"field not found in page: {html[:500]}"
    return match.group(1)


KEY_FIELD = re.compile(r'name="confirm_key" value="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_setting_is_validated_and_named() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"NODOUBLE_CAPTURE_METHOD": "later"})
    assert str(caught.value).startswith("NODOUBLE_CAPTURE_METHOD='later' is invalid")
    assert "\n" not in str(caught.value)
    assert Settings.from_env({}).capture_method == "automatic"


@pytest.mark.parametrize(
    ("asked", "setting", "chosen"),
    [
        (None, "automatic", "automatic"),
        ("manual", "automatic", "manual"),
        (None, "manual", "manual"),
        ("automatic", "manual", "automatic"),
        (None, "automatic_only", "automatic"),
    ],
)
def test_capture_method_for(asked: str | None, setting: str, chosen: str) -> None:
    payload = {} if asked is None else {"capture_method": asked}
    assert capture_method_for(payload, Settings.build(capture_method=setting)) == chosen
