"""Remove expired idempotency keys (Stripe forgets keys after 24 hours; so do we).

A key row may go once ``expires_at`` has passed and no request holds its lease. Removing it
never risks a second charge: the payment row keeps its own provider key, and a later request
for an order that is already paid is answered from that payment (the business-key guard in
``checkout._claim``), whatever Idempotency-Key it carries.

``reap`` runs once (``nodouble``'s torture suite and tests call it); ``ReaperThread`` runs it
every ``NODOUBLE_REAPER_INTERVAL_SECONDS`` (0 disables it).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from reference_app import db
from reference_app.models import IdempotencyKey, utcnow

log = logging.getLogger("reference_app.reaper")
BATCH = 500


def reap(sessions: sessionmaker[Session], *, now: datetime | None = None) -> int:
    """Delete every expired, unleased key; return how many were removed."""
    moment = now or utcnow()
    removed = 0
    while True:

        def work(session: Session) -> int:
            ids = list(
                session.execute(
                    sa.select(IdempotencyKey.id)
                    .where(
                        IdempotencyKey.expires_at <= moment,
                        sa.or_(
                            IdempotencyKey.locked_until.is_(None),
                            IdempotencyKey.locked_until <= moment,
                        ),
                    )
                    .order_by(IdempotencyKey.id)
                    .limit(BATCH)
                ).scalars()
            )
            if ids:
                session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
            return len(ids)

        count = db.transaction(sessions, work)
        removed += count
        if count < BATCH:
            return removed


class ReaperThread:
    """Runs ``reap`` every ``interval`` seconds (0: never)."""

    def __init__(self, sessions: sessionmaker[Session], interval: float) -> None:
        self._sessions = sessions
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nodouble-reaper", daemon=True)

    def start(self) -> None:
        if self._interval > 0:
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                removed = reap(self._sessions)
                if removed:
                    log.info("reaped %d expired idempotency keys", removed)
            except Exception:  # keep the thread alive; the next pass retries
                log.exception("reaper pass failed")
