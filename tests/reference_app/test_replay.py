"""The replay fast path: a finished key's answer is one read, with no lock and no write,
sent as the bytes first stored; on every database, against a real checkout process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from _checkout_support import DATABASES, FakeControl, Shopper, new_key

from harness._databases import create_scratch_database, drop_scratch_database
from reference_app import db, migrate
from reference_app.checkout import render
from reference_app.models import IdempotencyKey, utcnow

LOCKED_WAIT_S = 5.0
"""How long a request may take while the key row is locked: a request that waits for the
lock waits far longer (until the lock is released)."""


def test_a_replay_and_a_read_answer_while_the_key_row_is_locked(
    shopper: Shopper, fake: FakeControl, db_url: str
) -> None:
    order_id = shopper.new_order()["order_id"]
    key = new_key()
    first = shopper.confirm(order_id, key)
    assert first.status_code == 200, first.text

    engine = db.make_engine(db_url)  # SQLite: BEGIN IMMEDIATE, the database's write lock
    try:
        with engine.begin() as held:
            locked = held.execute(
                sa.select(IdempotencyKey.id)
                .where(
                    IdempotencyKey.user_id == shopper.user, IdempotencyKey.idempotency_key == key
                )
                .with_for_update()
            ).scalar_one_or_none()
            assert locked is not None  # the row is ours, locked until the block ends
            timeout = httpx.Timeout(LOCKED_WAIT_S)
            replay = shopper.http.post(
                f"/api/orders/{order_id}/confirm",
                json={"payment_method": "pm_card_visa"},
                headers={"Idempotency-Key": key},
                timeout=timeout,
            )
            reused = shopper.http.post(
                f"/api/orders/{order_id}/confirm",
                json={"payment_method": "pm_card_mastercard"},
                headers={"Idempotency-Key": key},
                timeout=timeout,
            )
            read = shopper.http.get(f"/api/orders/{order_id}", timeout=timeout)
    finally:
        engine.dispose()

    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("idempotency-key-reused")
    assert read.status_code == 200 and read.json()["status"] == "paid"
    assert fake.order(order_id)["charges"] == 1


def test_a_replayed_decline_keeps_its_problem_type_and_bytes(
    shopper: Shopper, fake: FakeControl
) -> None:
    order_id = shopper.new_order()["order_id"]
    key = new_key()
    declined = shopper.confirm(order_id, key, "pm_card_chargeDeclined")
    replays = [shopper.confirm(order_id, key, "pm_card_chargeDeclined") for _ in range(3)]

    assert declined.status_code == 402, declined.text
    for replay in replays:
        assert replay.status_code == 402
        assert replay.content == declined.content
        assert replay.headers["content-type"] == "application/problem+json"
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["cache-control"] == "no-store"
    assert fake.order(order_id)["charges"] == 0


@pytest.fixture(params=DATABASES)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, for migrating step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.sqlite3'}"
        return
    server = str(request.getfixturevalue(f"{request.param}_url"))
    url, name = create_scratch_database(server, "nodouble_replay_migration")
    yield url
    drop_scratch_database(server, name)


def test_the_migration_rewrites_stored_bodies_as_sent(fresh_url: str) -> None:
    body = {"order_id": "ord_1", "status": "paid", "detail": "payé, merci", "amount": 5000}
    old_text = json.dumps(body)  # how bodies were stored before 0005: spaced, ASCII-escaped
    assert old_text != render(body)
    engine = db.make_engine(fresh_url)
    try:
        migrate.upgrade(engine, "0004_hosted_sessions")
        now = utcnow()
        row = {"user_id": "u", "request_method": "POST", "request_path": "/p", "fingerprint": "f",
               "created_at": now, "last_seen_at": now, "expires_at": now}  # fmt: skip
        with engine.begin() as connection:
            connection.execute(
                sa.insert(IdempotencyKey),
                [
                    {**row, "idempotency_key": "done", "recovery_point": "finished",
                     "response_status": 200, "response_headers": "{}", "response_body": old_text},
                    {**row, "idempotency_key": "open", "recovery_point": "started",
                     "response_status": None, "response_headers": None, "response_body": None},
                ],
            )  # fmt: skip
        migrate.upgrade(engine)
        with engine.connect() as connection:
            stored = dict(
                connection.execute(
                    sa.select(IdempotencyKey.idempotency_key, IdempotencyKey.response_body)
                ).all()
            )
    finally:
        engine.dispose()
    assert stored == {"done": render(body), "open": None}
    assert json.loads(stored["done"]) == body
