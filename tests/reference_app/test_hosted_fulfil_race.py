"""The redirect and the webhook of one paid Checkout Session, at the same moment.

``fulfil_in`` finds the session's row with a plain read, then locks the order and the row.
When the other arrival fulfils between that read and the lock, the locked row must be read
afresh: it is then complete with its payment, and this arrival is a duplicate. Read stale
(the ORM keeps the object of the first read unless told to refresh it), the row still looks
open, the order looks paid by "another payment", and the checkout logs a double charge
that never happened and sends the customer who paid to the "in progress" page.

The interleaving is made deterministic: the late arrival's plain read is done first, in
its own session, then the early arrival fulfils and commits, then the late one goes on.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from _checkout_support import DATABASES

from reference_app import db, migrate
from reference_app.hosted import fulfil_in
from reference_app.models import HostedSession, Order, Payment, utcnow

SERVER_DATABASES = [p for p in DATABASES if p.id != "sqlite"]
"""SQLite takes its write lock at BEGIN (``db.make_engine``): two writing transactions never
overlap there, so this interleaving cannot happen."""


@pytest.mark.parametrize("database", SERVER_DATABASES)
def test_the_late_arrival_of_a_fulfilled_session_is_a_duplicate(
    database: str, own_database_url: Callable[[str], str]
) -> None:
    engine = db.make_engine(own_database_url(database))
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    now = utcnow()
    suffix = now.strftime("%H%M%S%f")
    order_id, row_id, session_id = f"ord_hr_{suffix}", f"hs_hr_{suffix}", f"cs_test_hr_{suffix}"
    with sessions.begin() as session:
        session.add(Order(id=order_id, user_id="u", line_items=[], amount=2500, currency="usd",
                          status="open", created_at=now, updated_at=now))  # fmt: skip
        session.flush()
        session.add(HostedSession(id=row_id, order_id=order_id, attempt=1, open_order_id=order_id,
                                  status="open", provider_session_id=session_id, url="http://p/c",
                                  created_at=now, updated_at=now))  # fmt: skip
    found = {"id": session_id, "object": "checkout.session", "status": "complete",
             "payment_status": "paid", "amount_total": 2500, "currency": "usd",
             "payment_intent": "pi_hr"}  # fmt: skip

    late = sessions()
    try:
        with late.begin():
            # the late arrival's first read (fulfil_in's lookup by session id), before...
            seen = late.execute(sa.select(HostedSession).where(HostedSession.id == row_id))
            first_read = seen.scalar_one()  # held, as fulfil_in holds its ``row``
            # ...the early arrival fulfils and commits
            with sessions.begin() as early:
                assert fulfil_in(early, found) == "fulfilled"
            answer = fulfil_in(late, found)
            del first_read
    finally:
        late.close()
    with sessions.begin() as session:
        order = session.get_one(Order, order_id)
        payments = session.scalars(sa.select(Payment).where(Payment.order_id == order_id)).all()
        order_status, count = order.status, len(payments)
    engine.dispose()
    assert answer == "duplicate"
    assert order_status == "paid" and count == 1
