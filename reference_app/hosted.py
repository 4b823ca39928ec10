"""Hosted Checkout: the customer pays on the provider's page, the order is fulfilled once.

Three ways in, each a few named phases, each phase one transaction:

- ``start`` (the "pay on the provider's page" button): ``claimed`` (lock the order; reuse
  its open session or insert a new ``creating`` row, UNIQUE ``open_order_id`` keeps it to
  one), ``provider_called`` (create the session under ``nodouble-hosted-<order>-<attempt>``,
  or read the reused one: complete is fulfilled, expired is retired and replaced),
  ``opened`` (store id and url). A second click, a second tab or Back-and-click lands on
  the same session, so the customer can pay only once.
- ``on_return`` (the success URL, GET only): read the session from the provider and fulfil.
- ``apply_event`` (``checkout.session.completed`` / ``.expired`` webhooks): fulfil / retire.
- ``sweep`` (each reconciler pass): a session open for over a minute is read from the
  provider, then fulfilled (complete) or retired (expired), for a webhook lost for good.

``fulfil`` is the one place an order becomes paid by a hosted payment: under the order's
row lock, a CONFIRMED payment is inserted (UNIQUE ``active_order_id`` and provider key), so
the redirect and the webhook, whichever comes first, fulfil exactly once.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from reference_app import _statements as sql
from reference_app import db, flaws
from reference_app.checkout import active_payment, lock_order
from reference_app.hosted_provider import JSON, SessionsClient
from reference_app.models import HostedSession, Order, Payment, utcnow
from reference_app.provider import ProviderUnavailable

log = logging.getLogger("reference_app.hosted")

EVENTS = frozenset({"checkout.session.completed", "checkout.session.expired"})
SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
PAYMENT_METHOD = "hosted_checkout"
HOSTED_OPEN = (
    "This order has a payment page open at the payment provider, which could not be closed "
    "just now. Nothing was charged by this attempt; try again in a moment."
)
"""Why a card payment waits: paying by card too could charge the order twice."""
SWEEP_AGE = timedelta(minutes=1)
"""A session open this long is read by the reconciler's sweep (its webhook may be lost)."""
Where = Literal["provider", "success", "progress", "confirm", "not_found", "unavailable"]
Fulfilment = Literal["fulfilled", "duplicate", "not_paid", "not_ours", "conflict"]


@dataclass(frozen=True)
class Go:
    """Where the browser goes next; ``url`` only for ``provider``."""

    where: Where
    url: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Row:
    """A snapshot of a ``hosted_sessions`` row, safe outside its transaction."""

    id: str
    order_id: str
    attempt: int
    status: str
    provider_session_id: str | None
    url: str | None
    reused: bool = False
    """Found open by this claim (another click made it), not inserted by it."""


class HostedCheckout:
    def __init__(self, sessions: sessionmaker[Session], client: SessionsClient, flaw: str) -> None:
        self._sessions = sessions
        self._client = client
        self._flaw = flaw

    def close(self) -> None:
        self._client.close()

    # -- start: the button on the confirm page -------------------------------------------

    def start(self, user: str, order_id: str, base_url: str) -> Go:
        for _ in range(3):  # an expired session is retired and replaced; never loops for ever
            claimed = db.transaction(self._sessions, lambda s: self._claim(s, user, order_id))
            if isinstance(claimed, Go):
                return claimed
            if claimed.reused and flaws.active(self._flaw, "hosted_first_session_only"):
                # FLAW(hosted_first_session_only): a click that finds the order's session makes
                # a new one anyway (a fresh key per click) and sends the customer there, but
                # the order keeps only its first session (first write wins): the redirect and
                # the webhook of the new one match no order, and it is never fulfilled.
                form = _session_form(self._order(order_id), claimed, base_url)
                key = f"{provider_key(order_id, claimed.attempt)}-{secrets.token_hex(4)}"
                try:
                    extra = self._client.create(form, key)
                except ProviderUnavailable as exc:
                    return Go("unavailable", detail=str(exc))
                return Go("provider", url=str(extra.get("url") or ""))
            try:
                if claimed.provider_session_id is None:
                    found = self._client.create(
                        _session_form(self._order(order_id), claimed, base_url),
                        provider_key(order_id, claimed.attempt),
                    )
                else:
                    found = self._client.retrieve_session(claimed.provider_session_id)
            except ProviderUnavailable as exc:
                log.warning("hosted checkout for %s: %s", order_id, exc)
                return Go("unavailable", detail=str(exc))
            status = found.get("status")
            if status == "open":
                opened = partial(_opened, row_id=claimed.id, found=found)
                return db.transaction(self._sessions, opened)
            if status == "complete":
                done = self.fulfil(found)
                return Go("success") if done in ("fulfilled", "duplicate") else Go("progress")
            db.transaction(self._sessions, partial(_retire, row_id=claimed.id, status="expired"))
        return Go("unavailable", detail="the provider keeps answering expired sessions")

    def _claim(self, session: Session, user: str, order_id: str) -> Go | _Row:
        order = lock_order(session, order_id, user=user)
        if order is None:
            return Go("not_found")
        if order.status == "paid":
            return Go("success")
        if active_payment(session, order_id) is not None:
            return Go("progress")  # a card payment of the confirm page is in flight
        attempts = session.execute(
            sa.select(sa.func.max(HostedSession.attempt)).where(HostedSession.order_id == order_id)
        ).scalar_one_or_none()
        guard: str | None = order_id
        if flaws.active(self._flaw, "hosted_session_per_click"):
            # FLAW(hosted_session_per_click): no reuse and no UNIQUE guard: every click makes a
            # new session, and each one the customer reaches can be paid.
            guard = None
        else:
            current = session.execute(
                sa.select(HostedSession)
                .where(HostedSession.open_order_id == order_id)
                .with_for_update()
            ).scalar_one_or_none()
            if current is not None:
                return _snapshot(current, reused=True)
        now = utcnow()
        row = HostedSession(
            id="hs_" + secrets.token_hex(12),
            order_id=order_id,
            attempt=(attempts or 0) + 1,
            open_order_id=guard,
            status="creating",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        return _snapshot(row)

    # -- before a card payment of the confirm page --------------------------------------

    def close_for_card(self, user: str, order_id: str, base_url: str) -> bool:
        """Expire the order's payable session before the confirm page's card form charges, so
        the customer cannot pay both. One paid meanwhile is fulfilled instead (the card path
        then finds the order paid and charges nothing). False: the provider could not be
        asked, and the card payment must wait (it could be a second charge)."""

        def current(session: Session) -> _Row | None:  # a plain read: no row lock taken
            params = {"order_id": order_id, "user": user}
            row = session.execute(sql.OPEN_HOSTED_SESSION, params).scalar_one_or_none()
            return None if row is None else _snapshot(row)

        row = db.transaction(self._sessions, current, read_only=True)
        if row is None:
            return True
        try:
            if row.provider_session_id is None:  # made, or not, under this key: find out
                form = _session_form(self._order(order_id), row, base_url)
                found = self._client.create(form, provider_key(order_id, row.attempt))
            else:
                found = self._client.retrieve_session(row.provider_session_id)
            if found.get("status") == "open":
                found = self._client.expire(str(found["id"]))
        except ProviderUnavailable as exc:
            log.warning("cannot close the hosted session of %s: %s", order_id, exc)
            return False
        if found.get("status") == "complete":
            self.fulfil(found)
        else:
            db.transaction(self._sessions, partial(_retire, row_id=row.id, status="expired"))
        return True

    def _order(self, order_id: str) -> Order:
        return db.transaction(self._sessions, lambda s: s.get_one(Order, order_id))

    # -- the success URL -----------------------------------------------------------------

    def on_return(self, order_id: str, session_id: str) -> Go:
        """The customer is back from the provider's page: read the session and fulfil."""
        if not SESSION_ID.match(session_id):
            return Go("not_found")

        def known(session: Session) -> bool:
            row = _by_provider_id(session, session_id)
            return row is not None and row.order_id == order_id

        if not db.transaction(self._sessions, known):
            return Go("not_found")
        try:
            found = self._client.retrieve_session(session_id)
        except ProviderUnavailable as exc:
            paid = db.transaction(
                self._sessions, lambda s: s.get_one(Order, order_id).status == "paid"
            )
            return Go("success") if paid else Go("unavailable", detail=str(exc))
        if flaws.active(self._flaw, "hosted_success_unverified"):
            # FLAW(hosted_success_unverified): reaching the success URL is taken as proof of
            # payment; the session's status is not looked at.
            found = {**found, "status": "complete", "payment_status": "paid"}
        done = self.fulfil(found)
        if done in ("fulfilled", "duplicate"):
            return Go("success")
        if done == "conflict":
            return Go("progress")
        return Go("confirm")  # not paid (cancelled, expired, declined): the order's page

    # -- the reconciler's sweep -------------------------------------------------------------

    def sweep(self, older_than: timedelta = SWEEP_AGE) -> int:
        """Read every session left open longer than ``older_than`` from the provider: a
        complete one is fulfilled (once, as from its webhook), an expired one retired. It
        finds a payment whose webhook was lost for good and whose customer never came back.
        Returns how many sessions changed; a provider that cannot be asked is tried again
        on the next pass."""
        cutoff = utcnow() - older_than

        def stale(session: Session) -> list[str]:
            rows = session.execute(
                sa.select(HostedSession.provider_session_id).where(
                    HostedSession.open_order_id.is_not(None),
                    HostedSession.provider_session_id.is_not(None),
                    HostedSession.updated_at <= cutoff,
                )
            )
            return [str(found) for found in rows.scalars()]

        changed = 0
        for session_id in db.transaction(self._sessions, stale):
            try:
                found = self._client.retrieve_session(session_id)
            except ProviderUnavailable as exc:
                log.warning("sweeping hosted session %s: %s", session_id, exc)
                continue
            if found.get("status") == "complete":
                changed += self.fulfil(found) in ("fulfilled", "conflict")
            elif found.get("status") == "expired":
                changed += db.transaction(self._sessions, partial(_expire, session_id=session_id))
        return changed

    # -- fulfilment ------------------------------------------------------------------------

    def fulfil(self, found: JSON) -> Fulfilment:
        return db.transaction(self._sessions, lambda s: fulfil_in(s, found, flaw=self._flaw))


def fulfil_in(session: Session, found: JSON, *, flaw: str = "") -> Fulfilment:
    """Mark the order paid by the completed session ``found``, exactly once."""
    if found.get("status") != "complete" or found.get("payment_status") != "paid":
        return "not_paid"
    row = _by_provider_id(session, str(found.get("id")))
    if row is None:
        return "not_ours"
    order = lock_order(session, row.order_id)
    if order is None:
        raise RuntimeError(f"hosted session {row.id} has no order")
    row = _lock_row(session, row.id)  # fresh: the other arrival may have fulfilled it
    intent = found.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else intent
    now = utcnow()
    if row.status == "complete" and row.payment_id is not None:
        if not flaws.active(flaw, "hosted_fulfil_not_once"):
            return "duplicate"
        # FLAW(hosted_fulfil_not_once): the second arrival of the same paid session (a reload
        # of the success page, or the webhook after the redirect) is not recognised as the
        # same payment; the order looks paid twice, and the shop's double-payment guard puts
        # it on hold for a person: its payment is voided and the order is open again.
        held = session.get_one(Payment, row.payment_id)
        held.status, held.active_order_id, held.updated_at = "FAILED", None, now
        order.status, order.updated_at = "open", now
        session.flush()
        return "conflict"
    row.status, row.open_order_id, row.updated_at = "complete", None, now
    if order.status == "paid" or active_payment(session, order.id) is not None:
        # Another payment (the confirm page's card form) paid or is paying this order too:
        # money moved twice. Never hide it; a person must refund one of them.
        log.error(
            "order %s: hosted session %s was paid (%s) but the order has another payment",
            order.id,
            row.provider_session_id,
            intent_id,
        )
        session.flush()
        return "conflict"
    if found.get("amount_total") != order.amount or found.get("currency") != order.currency:
        log.error("hosted session %s paid another amount than order %s", row.id, order.id)
        session.flush()
        return "conflict"
    payment = Payment(
        id="pay_" + secrets.token_hex(12),
        order_id=order.id,
        active_order_id=order.id,
        status="CONFIRMED",
        amount=order.amount,
        currency=order.currency,
        payment_method=PAYMENT_METHOD,
        provider_idempotency_key=f"nodouble-hosted-{row.id}",
        provider_payment_intent=intent_id if isinstance(intent_id, str) else None,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    row.payment_id = payment.id
    order.status, order.updated_at = "paid", now
    session.flush()
    return "fulfilled"


def apply_event(
    session: Session, event: dict[str, Any], *, flaw: str = ""
) -> Literal["processed", "ignored"]:
    """A verified, first-seen ``checkout.session.*`` event, inside the webhook's transaction."""
    found = event.get("data", {}).get("object", {})
    if not isinstance(found, dict):
        raise ValueError("event data.object must be an object")
    if event.get("type") == "checkout.session.expired":
        row = _by_provider_id(session, str(found.get("id")))
        if row is None:
            return "ignored"
        _retire(session, row.id, "expired")
        return "processed"
    if flaws.active(flaw, "hosted_redirect_only"):
        # FLAW(hosted_redirect_only): the completed event is dropped; only a customer who
        # comes back through the success URL gets the order marked paid.
        return "ignored"
    done = fulfil_in(session, found, flaw=flaw)
    return "processed" if done in ("fulfilled", "conflict") else "ignored"


def provider_key(order_id: str, attempt: int) -> str:
    """The provider idempotency key of a session: the order and the attempt, nothing else."""
    return f"nodouble-hosted-{order_id}-{attempt}"


def _session_form(order: Order, row: _Row, base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    form = {
        "mode": "payment",
        "success_url": f"{base}/checkout/{order.id}/hosted/return"
        "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": f"{base}/checkout/{order.id}",
        "client_reference_id": order.id,
        "metadata[order_id]": order.id,
        "metadata[hosted_session]": row.id,
        "payment_intent_data[metadata][order_id]": order.id,
    }
    for i, line in enumerate(order.line_items):
        prefix = f"line_items[{i}]"
        form[f"{prefix}[quantity]"] = str(line["quantity"])
        form[f"{prefix}[price_data][currency]"] = order.currency
        form[f"{prefix}[price_data][unit_amount]"] = str(line["unit_amount"])
        form[f"{prefix}[price_data][product_data][name]"] = str(line["name"])
    return form


def _opened(session: Session, row_id: str, found: JSON) -> Go:
    row = _lock_row(session, row_id)
    if row.provider_session_id not in (None, found["id"]):
        raise RuntimeError(f"hosted session {row.id} got a second provider session")
    if row.status == "creating":
        row.status = "open"
    row.provider_session_id, row.url, row.updated_at = found["id"], found.get("url"), utcnow()
    return Go("provider", url=str(found.get("url") or "")) if found.get("url") else Go("confirm")


def _expire(session: Session, session_id: str) -> bool:
    row = _by_provider_id(session, session_id)
    if row is None or row.status not in ("creating", "open"):
        return False
    _retire(session, row.id, "expired")
    return True


def _retire(session: Session, row_id: str, status: str) -> None:
    row = _lock_row(session, row_id)
    if row.status in ("creating", "open"):
        row.status, row.open_order_id, row.updated_at = status, None, utcnow()


def _lock_row(session: Session, row_id: str) -> HostedSession:
    """Lock a ``hosted_sessions`` row and read it afresh. The ORM hands back the object an
    earlier plain read of this transaction loaded, unchanged, unless told to refresh it:
    a row another transaction completed meanwhile would still look open."""
    return session.execute(
        sa.select(HostedSession)
        .where(HostedSession.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _by_provider_id(session: Session, session_id: str) -> HostedSession | None:
    return session.execute(
        sa.select(HostedSession).where(HostedSession.provider_session_id == session_id)
    ).scalar_one_or_none()


def _snapshot(row: HostedSession, *, reused: bool = False) -> _Row:
    return _Row(
        row.id, row.order_id, row.attempt, row.status, row.provider_session_id, row.url, reused
    )
