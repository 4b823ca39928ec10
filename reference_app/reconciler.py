"""Settle payments left PENDING by a crash, a lost provider answer or a client that left.

For each PENDING payment that no live request is working on:

1. search the provider for intents tagged ``metadata[payment_id]``; a definite one wins;
2. otherwise replay the create call with the payment's own provider key: the provider
   either returns the charge it already made or makes the one charge the customer asked
   for (both exactly once), unless the payment is older than the provider keeps keys, in
   which case a replay could charge twice and the payment is failed as ``abandoned``;
3. compare-and-set the answer (``checkout.settle``), like the checkout and the webhooks.

A manual-capture payment that is only authorised (``requires_capture``) stays PENDING and
is left alone; one whose capture was asked and not answered (``capturing``) has its capture
sent again with the same provider key (``capture.reconcile_capture``).

It never creates a second charge and never leaves a charged order unpaid.

Each pass of the thread also runs the hosted checkout's ``sweep`` (``hosted.py``): a
Checkout Session open for over a minute is read from the provider and fulfilled or retired,
so a paid one whose webhook was lost for good is found without the customer coming back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from reference_app import db
from reference_app.authorization import record_authorized
from reference_app.capture import reconcile_capture
from reference_app.checkout import charge_request, live_lease, lock_order, lock_payment, settle
from reference_app.models import Payment, utcnow
from reference_app.provider import ChargeResult, ProviderClient, ProviderUnavailable

log = logging.getLogger("reference_app.reconciler")

PROVIDER_KEY_SAFE_AGE = timedelta(hours=23)
"""Replay with the provider key only while the provider surely still remembers it (24 h)."""


@dataclass
class ReconcileReport:
    examined: int = 0
    confirmed: int = 0
    failed: int = 0
    still_pending: int = 0
    errors: list[str] = field(default_factory=list)


def reconcile(
    sessions: sessionmaker[Session], provider: ProviderClient, *, ignore_leases: bool = False
) -> ReconcileReport:
    """One pass over the PENDING payments; safe to run concurrently with anything."""
    report = ReconcileReport()

    def pending_ids(session: Session) -> list[str]:
        rows = session.execute(
            sa.select(Payment.id).where(Payment.status == "PENDING").order_by(Payment.created_at)
        )
        return list(rows.scalars())

    for payment_id in db.transaction(sessions, pending_ids):
        report.examined += 1
        try:
            outcome = _reconcile_one(sessions, provider, payment_id, ignore_leases)
        except Exception as exc:  # one bad payment must not stop the others
            log.exception("reconciling %s failed", payment_id)
            report.errors.append(f"{payment_id}: {type(exc).__name__}: {exc}")
            continue
        if outcome == "CONFIRMED":
            report.confirmed += 1
        elif outcome == "FAILED":
            report.failed += 1
        else:
            report.still_pending += 1
    return report


def _reconcile_one(
    sessions: sessionmaker[Session], provider: ProviderClient, payment_id: str, ignore_leases: bool
) -> str:
    def snapshot(session: Session) -> tuple[Payment, bool]:
        payment = session.get_one(Payment, payment_id)
        busy = live_lease(session, payment_id, utcnow()) is not None
        return payment, busy

    payment, busy = db.transaction(sessions, snapshot)
    if payment.status != "PENDING":
        return payment.status
    if busy and not ignore_leases:
        return "PENDING"  # a live request is on it; it will finish or its lease will lapse
    captured = reconcile_capture(sessions, provider, payment)
    if captured is not None:
        return captured

    try:
        result = provider.find_by_payment_id(payment_id)
    except ProviderUnavailable as exc:
        log.warning("cannot search the provider for %s: %s", payment_id, exc)
        return "PENDING"
    if result is None or result.outcome == "unknown":  # "action" found: never replay
        if utcnow() - payment.created_at < PROVIDER_KEY_SAFE_AGE:
            result = provider.create_and_confirm(charge_request(payment))
        elif result is None:
            result = ChargeResult("declined", None, "abandoned", "no charge found at the provider")
    if result.outcome in ("unknown", "action"):  # "action": the customer has a challenge
        return "PENDING"
    final = result

    def apply(session: Session) -> str:
        current = session.get_one(Payment, payment_id)
        order = lock_order(session, current.order_id)
        if order is None:
            raise RuntimeError(f"payment {payment_id} has no order")
        locked = lock_payment(session, payment_id)
        if (
            final.outcome == "declined"
            and not ignore_leases
            and live_lease(session, locked.id, utcnow())
        ):
            # A request took the payment after the read above (a Pay with a new card on an
            # intent whose challenge failed): that read is stale, the request settles it.
            return locked.status
        if final.outcome == "authorized" and locked.status == "PENDING":
            record_authorized(order, locked, final.intent_id)  # manual capture: held
        else:
            settle(session, order, locked, final)
        return locked.status

    return db.transaction(sessions, apply)


class ReconcilerThread:
    """Runs ``reconcile`` at start and then every ``interval`` seconds (0: once)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: ProviderClient,
        interval: float,
        sweep: Callable[[], int] | None = None,
    ) -> None:
        self._sessions = sessions
        self._provider = provider
        self._sweep = sweep
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nodouble-reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = reconcile(self._sessions, self._provider)
                if report.examined:
                    log.info("reconciled: %s", report)
                if self._sweep is not None and (swept := self._sweep()):
                    log.info("hosted sessions settled by the sweep: %d", swept)
            except Exception:  # keep the thread alive; the next pass retries
                log.exception("reconciler pass failed")
            if self._interval <= 0 or self._stop.wait(self._interval):
                return
