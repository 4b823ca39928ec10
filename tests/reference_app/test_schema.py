"""The migration builds exactly the models, and the database refuses a second live payment.

(MariaDB reports a failed CHECK as an OperationalError, the others as an IntegrityError.)
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from _checkout_support import DATABASES
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

from reference_app import db, migrate
from reference_app.models import Base, Order, Payment, utcnow


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    else:
        url = str(request.getfixturevalue(f"{request.param}_url"))
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # idempotent: every start runs it
    return engine


def test_migration_matches_the_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_database_refuses_a_second_live_payment_for_an_order(engine: sa.Engine) -> None:
    sessions = db.make_sessionmaker(engine)
    now = utcnow()
    order_id = "ord_schema_" + now.strftime("%H%M%S%f")

    def payment(suffix: str, status: str, active: str | None) -> Payment:
        return Payment(
            id=f"pay_{suffix}_{order_id}"[:40], order_id=order_id, active_order_id=active,
            status=status, amount=100, currency="usd", payment_method="pm_card_visa",
            provider_idempotency_key=f"nodouble-pay-{suffix}-{order_id}", created_at=now,
            updated_at=now + timedelta(seconds=1),
        )  # fmt: skip

    with sessions.begin() as session:
        session.add(Order(id=order_id, user_id="u", line_items=[], amount=100, currency="usd",
                          status="open", created_at=now, updated_at=now))  # fmt: skip
        session.flush()
        session.add(payment("a", "FAILED", None))
        session.add(payment("b", "FAILED", None))  # any number of failed attempts is fine
        session.add(payment("c", "PENDING", order_id))
    with pytest.raises(DBAPIError), sessions.begin() as session:  # a second live one
        session.add(payment("d", "CONFIRMED", order_id))
    with pytest.raises(DBAPIError), sessions.begin() as session:  # dodging the UNIQUE
        session.add(payment("e", "PENDING", None))
    with pytest.raises(DBAPIError), sessions.begin() as session:  # unknown status
        session.add(payment("f", "REFUNDED", None))
    with sessions.begin() as session:  # leave nothing PENDING for a live reconciler to charge
        live = session.get_one(Payment, payment("c", "PENDING", order_id).id)
        live.status, live.active_order_id = "FAILED", None
    engine.dispose()
