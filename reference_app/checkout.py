"""The confirm algorithm, as named phases (the shape of rocket-rides-atomic's ``api.rb``).

    replay  no transaction that writes, no lock: one indexed read of the (user, key) row; a
            finished answer is sent again as stored, a key used for another body is refused.
            Anything else (a new key, one in flight, one expired) goes on to claim.
    claim   one transaction: find-or-create and lock the key row, replay / refuse / lease it,
            lock the order, then reuse or create the one PENDING payment (provider key stored).
    charge  no transaction, no lock: ask the provider, always with the payment's own key.
    finish  one transaction: compare-and-set PENDING -> CONFIRMED | FAILED, store the answer.

Each phase returns the next step or a response; an impossible state raises ``ImpossibleState``.
Nothing can be charged before ``claim`` has committed the payment row and its provider key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from reference_app import _statements as sql
from reference_app import authorization, db, flaws
from reference_app._crash import crash_point
from reference_app.config import Settings
from reference_app.errors import PROBLEM, problem_body
from reference_app.models import IdempotencyKey, Order, Payment, utcnow
from reference_app.provider import ChargeRequest, ChargeResult, ProviderClient
from reference_app.schemas import ConfirmOutcome, StoredAnswer

KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
REPLAYED_HEADER = "Idempotent-Replayed"


class ImpossibleState(RuntimeError):
    """The data contradicts an invariant; never papered over."""


@dataclass(frozen=True)
class ConfirmRequest:
    user: str
    order_id: str
    key: str
    payload: dict[str, Any]
    method: str
    path: str
    return_url: str | None = None
    """Our 3-D Secure return page for this order; not part of the request's fingerprint."""

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            {"method": self.method.upper(), "path": self.path, "body": self.payload},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Respond:
    """Phase result: answer the client with this."""

    outcome: ConfirmOutcome


@dataclass(frozen=True)
class Charge:
    """Phase result: call the provider for this payment (created now or resumed)."""

    key_row_id: int
    payment_id: str
    request: ChargeRequest
    created: bool
    unrecorded: Payment | None = None
    """A payment the claim did not write (only under the ``charge_before_record`` flaw):
    ``finish`` inserts it after the provider call."""
    reconfirm: str | None = None
    """The intent to confirm again (a payment awaiting 3-D Secure): never a new intent."""


@dataclass(frozen=True)
class Lookup:
    """What the replay phase read: the answer to send without a claim, if any, and whether
    the order had a hosted session that may still be paid (the route then closes it before
    the claim). ``hosted_open`` is True when nothing was read (so the route looks)."""

    answer: StoredAnswer | ConfirmOutcome | None
    hosted_open: bool = True


class _Answer(Exception):
    """Leave a transaction by rolling it back and answering ``outcome`` (nothing stored)."""

    def __init__(self, outcome: ConfirmOutcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


def key_problem(key: str | None) -> ConfirmOutcome | None:
    """400 if the Idempotency-Key header is missing or malformed, else None."""
    if key is None or key == "":
        return problem(
            400,
            "idempotency-key-missing",
            "Send an Idempotency-Key header: one random value per checkout attempt, "
            "reused on every retry of that attempt.",
        )
    if not KEY_PATTERN.match(key):
        return problem(
            400,
            "idempotency-key-invalid",
            "The Idempotency-Key must be 1-255 printable ASCII characters.",
        )
    return None


def key_reused() -> ConfirmOutcome:
    """422: the key was first used for another request; nothing is done."""
    return problem(
        422,
        "idempotency-key-reused",
        "This Idempotency-Key was used with a different request (method, path or body). "
        "Use a new key for a new request.",
    )


def problem(status: int, slug: str, detail: str, **extra: Any) -> ConfirmOutcome:
    return ConfirmOutcome(
        status, problem_body(status, slug, detail, **extra), {"Content-Type": PROBLEM}
    )


class Checkout:
    """Runs the phases; one instance per app, shared by every request thread."""

    def __init__(
        self, sessions: sessionmaker[Session], provider: ProviderClient, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._provider = provider
        self._settings = settings
        self._check_reads: sessionmaker[Session] | None = None
        self._lease = timedelta(seconds=settings.lease_seconds)
        self._ttl = timedelta(seconds=settings.key_ttl_seconds)

    # -- phase "replay" --------------------------------------------------------------------

    def look_up(self, request: ConfirmRequest) -> Lookup:
        """The answer already stored for this request, by one indexed read of its (user, key)
        row (the UNIQUE index), in a read-only transaction: nothing locked, nothing written,
        the body not parsed. A key that holds another request answers 422, as ``take_key``
        would. No answer: no finished one to give (a new key, one in flight, or an expired
        one that may be reused); ``confirm`` decides, under the key's lock.

        Only then, in the same transaction, a second read tells whether the order has a
        hosted session that may still be paid (``sql.OPEN_HOSTED_SESSION``), which the route
        must close before a card claim. A replay reads nothing more than its key row. Both
        are plain reads, as ``close_for_card``'s own is; the claim checks the hosted
        session again under the order's lock (``hosted_open``)."""
        key = {"user": request.user, "key": request.key}
        order = {"order_id": request.order_id, "user": request.user}

        def read(session: Session) -> Lookup:
            answer = self._stored(request, session.execute(sql.KEY_ANSWER, key).first())
            if answer is not None:  # sent as it is: the route goes no further
                return Lookup(answer, hosted_open=False)
            hosted = session.execute(sql.ANY_OPEN_HOSTED_SESSION, order).scalar()
            return Lookup(None, hosted_open=bool(hosted))

        return db.transaction(self._sessions, read, read_only=True)

    def _stored(self, request: ConfirmRequest, row: Any) -> StoredAnswer | ConfirmOutcome | None:
        """The answer ``look_up``'s row holds for ``request``, if any (see there)."""
        if row is None:
            return None
        finished = row.recovery_point == "finished"
        if finished and row.expires_at <= utcnow():
            return None  # may be taken for a new request: only the claim can say
        if row.fingerprint != request.fingerprint:
            return key_reused()
        if not finished:
            return None
        if row.response_status is None or row.response_body is None:
            raise ImpossibleState(f"key {request.key!r} is finished without a stored response")
        headers = json.loads(row.response_headers or "{}")
        headers[REPLAYED_HEADER] = "true"
        return StoredAnswer(row.response_status, headers, row.response_body)

    # -- the phases that may charge ----------------------------------------------------------

    def confirm(self, request: ConfirmRequest) -> ConfirmOutcome:
        token = secrets.token_hex(16)
        try:
            if flaws.active(self._settings, "check_then_insert"):
                # FLAW(check_then_insert): see _check_then_insert; two transactions, no lock.
                step = self._check_then_insert(request, token)
            else:
                step = db.transaction(self._sessions, lambda s: self._claim(s, request, token))
        except _Answer as answer:
            return answer.outcome
        if isinstance(step, Respond):
            return step.outcome
        crash_point("after_claim")
        if step.created:
            crash_point("after_payment_row")
        if step.reconfirm is not None:  # the same intent, maybe a new card: old challenge void
            result = self._provider.confirm_intent(step.reconfirm, step.request)
            if result.outcome == "declined" and result.code == "payment_intent_unexpected_state":
                # The intent left requires_action before this confirm: its challenge was
                # completed (succeeded, or requires_capture with manual capture) without the
                # return page. The refusal is no decline: read the intent and settle on that.
                result = self._provider.retrieve(step.reconfirm)
        else:
            result = self._provider.create_and_confirm(step.request)  # outside any transaction
        crash_point("after_provider_call")
        return db.transaction(self._sessions, lambda s: self._finish(s, step, result))

    # -- phase "claim" ---------------------------------------------------------------------

    def _claim(self, session: Session, request: ConfirmRequest, token: str) -> Respond | Charge:
        now = utcnow()
        if flaws.active(self._settings, "key_not_user_scoped"):
            # FLAW(key_not_user_scoped): a finished answer stored under this key is replayed
            # whoever stored it: the lookup forgets the user the key belongs to.
            anyone = session.execute(
                sa.select(IdempotencyKey)
                .where(
                    IdempotencyKey.idempotency_key == request.key,
                    IdempotencyKey.recovery_point == "finished",
                )
                .limit(1)
            ).scalar_one_or_none()
            if anyone is not None:
                return Respond(replay(anyone))
        key = self.take_key(session, request, now, token)
        if isinstance(key, Respond):
            return key
        if flaws.active(self._settings, "lock_across_call_released_early"):
            # FLAW(lock_across_call_released_early): the lease only covers this transaction,
            # not the provider call after it; and a request that finds the key free takes it
            # for a dead attempt and restarts that attempt under a fresh provider key.
            key.locked_until = now
            if key.payment_id is not None:
                stale = lock_payment(session, key.payment_id)
                if stale.status == "PENDING":
                    retry = secrets.token_hex(4)
                    stale.provider_idempotency_key = f"{provider_key(stale.id)}-r{retry}"
                    session.flush()

        order = lock_order(session, request.order_id, user=request.user)
        if order is None:
            raise _Answer(problem(404, "not-found", f"No order {request.order_id} for you."))
        amount = self._amount(order, request)

        if key.payment_id is not None:  # a retry after a crash or lost answer: resume
            payment = lock_payment(session, key.payment_id)
            if payment.status != "PENDING":
                return Respond(store(key, outcome_for(order, payment)))
            if payment.capture_status is not None:  # manual capture: held already
                return Respond(store(key, authorization.record_authorized(order, payment, None)))
            return resume(key.id, payment, request)

        if order.status == "paid":  # paid under another key: answer with that payment
            paid = active_payment(session, order.id)
            if paid is None or paid.status != "CONFIRMED":
                raise ImpossibleState(f"order {order.id} is paid without a CONFIRMED payment")
            key.order_id, key.payment_id = order.id, paid.id
            return Respond(store(key, outcome_for(order, paid)))

        if hosted_open(session, order.id):
            # A hosted session was opened after the route closed the order's sessions
            # (close_for_card reads without a lock): charging the card too could charge twice.
            raise _Answer(problem(409, "hosted-session-open", HOSTED_OPENED))

        pending = active_payment(session, order.id)
        if pending is not None and flaws.active(self._settings, "search_before_charge"):
            # FLAW(search_before_charge): the order's own rows are not the guard; the
            # provider is. Search it for an intent tagged with this order: a succeeded one
            # settles the order, none found means "never charged", so the live payment is
            # given up and a new one (new provider key) charged. Search lags behind charges.
            found = self._provider.find_by_metadata("order_id", order.id)
            if found is not None and found.outcome == "succeeded" and pending.status == "PENDING":
                settle(session, order, pending, found)
                key.order_id, key.payment_id = order.id, pending.id
                return Respond(store(key, outcome_for(order, pending)))
            cancel_for_new_attempt(session, pending, now)
        elif pending is not None and flaws.active(self._settings, "no_business_key_guard"):
            # FLAW(no_business_key_guard): only the client's key dedupes. Another key's live
            # payment for this order is not reused nor waited for: it is cancelled to make
            # room (which is what lets a second row past UNIQUE active_order_id).
            cancel_for_new_attempt(session, pending, now)
        elif (
            pending is not None
            and pending.action_url is not None
            and flaws.active(self._settings, "threeds_new_intent_per_attempt")
        ):
            # FLAW(threeds_new_intent_per_attempt): a payment waiting for 3-D Secure is
            # taken for a dead attempt: dropped here (the provider is not told) and a new
            # payment with a new intent made, so its challenge can still charge later.
            cancel_for_new_attempt(session, pending, now, code="authentication_abandoned")
        elif pending is not None:
            if pending.status != "PENDING":
                raise ImpossibleState(f"order {order.id} is open but {pending.id} is CONFIRMED")
            holder = live_lease(session, pending.id, now, exclude=key.id)
            if holder is not None:
                raise _Answer(in_progress(holder - now))
            # Its request died or gave up: adopt the payment and its provider key.
            key.order_id, key.payment_id = order.id, pending.id
            if pending.capture_status is not None:  # manual capture, held: nothing to charge
                return Respond(store(key, authorization.record_authorized(order, pending, None)))
            key.recovery_point = "payment_created"
            return resume(key.id, pending, request)

        payment = new_payment(order, str(request.payload["payment_method"]), now, amount)
        payment.return_url = request.return_url
        payment.capture_method = authorization.capture_method_for(request.payload, self._settings)
        if flaws.active(self._settings, "charge_before_record"):
            # FLAW(charge_before_record): the payment row and its provider key are written
            # only after the provider call (in finish); a crash or a retry in between finds
            # no record of the charge and makes another one.
            key.order_id = order.id
            return Charge(key.id, payment.id, charge_request(payment), True, payment)
        session.add(payment)
        session.flush()  # the UNIQUE active_order_id check runs here, before any charge
        key.order_id, key.payment_id = order.id, payment.id
        key.recovery_point = "payment_created"
        return Charge(key.id, payment.id, charge_request(payment), created=True)

    def take_key(
        self, session: Session, request: ConfirmRequest, now: datetime, token: str
    ) -> IdempotencyKey | Respond:
        """Lock the (user, key) row and lease it to this request; a key reused for another
        request is refused (422), a finished one answers its stored response, one another
        request holds answers 409 (both raise or return before anything else is read).

        A key never seen is inserted already leased to this request, by one statement that
        returns the new row (``db.insert_new``): there is nothing in it to check, and no
        other transaction can see it before this one commits. Only a key that was there
        (or any key on MariaDB) costs the locking read and the checks."""
        new = db.insert_new(session, IdempotencyKey, self._key_row(request, now, token))
        if new is not None:
            return new
        key = self._lock_key(session, request, now)
        if key.fingerprint != request.fingerprint:
            raise _Answer(key_reused())
        if key.recovery_point == "finished":
            return Respond(replay(key))
        if key.locked_until is not None and key.locked_until > now and key.lease_token != token:
            raise _Answer(in_progress(key.locked_until - now))
        key.locked_until = now + self._lease
        key.lease_token = token
        return key

    def _amount(self, order: Order, request: ConfirmRequest) -> int:
        """The amount to charge: the order's. A client's differing ``amount`` is refused."""
        claimed = request.payload.get("amount")
        if claimed is None or claimed == order.amount:
            return order.amount
        if flaws.active(self._settings, "trust_client_amount"):
            # FLAW(trust_client_amount): the amount the request names is charged.
            return int(claimed)
        raise _Answer(
            problem(
                422,
                "amount-mismatch",
                f"The amount {claimed} is not the order's amount {order.amount}; reload the "
                "order. The checkout always charges the order's own amount.",
            )
        )

    # -- the check_then_insert flaw ----------------------------------------------------

    def _check_then_insert(self, request: ConfirmRequest, token: str) -> Respond | Charge:
        """FLAW(check_then_insert): look the key and the order up in one transaction, then
        insert the key and the payment in another. Nothing holds between the two: requests
        that arrive together all pass the check, and each inserts (and charges) its own
        payment; a live payment inserted meanwhile is cancelled to make room, as if the
        UNIQUE active_order_id were not there."""

        def check(session: Session) -> Respond | None:
            now = utcnow()
            key = session.execute(
                sa.select(IdempotencyKey).where(
                    IdempotencyKey.user_id == request.user,
                    IdempotencyKey.idempotency_key == request.key,
                )
            ).scalar_one_or_none()
            if key is not None:
                if key.fingerprint != request.fingerprint:
                    raise _Answer(problem(422, "idempotency-key-reused", "Use a new key."))
                if key.recovery_point == "finished":
                    return Respond(replay(key))
                if key.locked_until is not None and key.locked_until > now:
                    raise _Answer(in_progress(key.locked_until - now))
            order = session.execute(
                sa.select(Order).where(Order.id == request.order_id, Order.user_id == request.user)
            ).scalar_one_or_none()
            if order is None:
                raise _Answer(problem(404, "not-found", f"No order {request.order_id} for you."))
            live = active_payment(session, order.id)
            if order.status == "paid" and live is not None:
                return Respond(outcome_for(order, live))
            if live is not None and live_lease(session, live.id, now) is not None:
                raise _Answer(in_progress(timedelta(seconds=1)))
            return None

        # The check reads through a plain pool of its own, outside the write lock that every
        # real transaction takes (BEGIN IMMEDIATE on SQLite), as a "read first" helper or a
        # replica read would: concurrent checks all run and all see "nothing yet".
        if self._check_reads is None:
            engine = self._sessions.kw["bind"]
            args = {"check_same_thread": False} if engine.dialect.name == "sqlite" else {}
            reader = sa.create_engine(engine.url, pool_size=20, max_overflow=40, connect_args=args)
            self._check_reads = sessionmaker(reader, expire_on_commit=False)
        checked = db.transaction(self._check_reads, check)
        if checked is not None:
            return checked

        def insert(session: Session) -> Charge:
            now = utcnow()
            db.insert_ignore(session, IdempotencyKey, self._key_row(request, now))
            key = self._lock_key(session, request, now)
            key.locked_until, key.lease_token = now + self._lease, token
            order = lock_order(session, request.order_id, user=request.user)
            if order is None:
                raise _Answer(problem(404, "not-found", f"No order {request.order_id} for you."))
            live = active_payment(session, order.id)
            if live is not None:
                cancel_for_new_attempt(session, live, now)
            payment = new_payment(order, str(request.payload["payment_method"]), now)
            session.add(payment)
            session.flush()
            key.order_id, key.payment_id = order.id, payment.id
            key.recovery_point = "payment_created"
            return Charge(key.id, payment.id, charge_request(payment), created=True)

        return db.transaction(self._sessions, insert)

    def _key_row(
        self, request: ConfirmRequest, now: datetime, token: str | None = None
    ) -> dict[str, Any]:
        """The columns of a new (user, key) row; leased to the request ``token`` names."""
        return {
            "user_id": request.user,
            "idempotency_key": request.key,
            "request_method": request.method.upper(),
            "request_path": request.path,
            "fingerprint": request.fingerprint,
            "recovery_point": "started",
            "locked_until": None if token is None else now + self._lease,
            "lease_token": token,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + self._ttl,
        }

    def _lock_key(self, session: Session, request: ConfirmRequest, now: datetime) -> IdempotencyKey:
        """Lock the (user, key) row, which must exist; an expired finished one is reset for
        this request."""
        params = {"user": request.user, "key": request.key}
        key = session.execute(sql.LOCK_KEY, params).scalar_one()
        if key.expires_at <= now and key.recovery_point == "finished":
            # An expired, finished key may be reused for a new request.
            key.request_method, key.request_path = request.method.upper(), request.path
            key.fingerprint, key.recovery_point = request.fingerprint, "started"
            key.response_status = key.response_headers = key.response_body = None
            key.order_id = key.payment_id = None
            key.created_at, key.expires_at = now, now + self._ttl
        key.last_seen_at = now
        return key

    # -- phase "finish" --------------------------------------------------------------------

    def _finish(self, session: Session, step: Charge, result: ChargeResult) -> ConfirmOutcome:
        key = session.execute(sql.LOCK_KEY_BY_ID, {"id": step.key_row_id}).scalar_one()
        if step.unrecorded is not None:  # the charge_before_record flaw: recorded only now
            session.add(step.unrecorded)
            session.flush()
            key.payment_id = step.unrecorded.id
        if key.recovery_point == "finished":
            return replay(key)
        order, payment = lock_order_and_payment(session, step.payment_id, step.request.order_id)
        if result.outcome == "action" and payment.status == "PENDING":
            return store(key, requires_action(order, payment, result, utcnow()))
        if result.outcome == "unknown" and payment.status == "PENDING":
            if flaws.active(self._settings, "store_provider_error"):
                # FLAW(store_provider_error): "the provider failed" is taken for "declined"
                # and stored as the key's final answer, though the money may have moved.
                result = ChargeResult("declined", result.intent_id, "provider_error")
            elif flaws.active(self._settings, "release_on_error"):
                # FLAW(release_on_error): like much idempotency middleware, an error releases
                # the key (and the attempt) so that "the client can simply retry".
                session.delete(key)
                cancel_for_new_attempt(session, payment, utcnow(), code="provider_error")
                order.confirm_key = None
                return problem(502, "provider-error", "The payment provider failed; retry.")
            else:
                key.recovery_point = "provider_called"
                key.locked_until = key.lease_token = None
                return processing(order, payment)
        if result.outcome == "authorized" and payment.status == "PENDING":
            outcome = authorization.record_authorized(order, payment, result.intent_id)
            return store(key, outcome)
        settle(session, order, payment, result)
        return store(key, outcome_for(order, payment))


# -- shared by the checkout, the reconciler and the webhooks ---------------------------------


def settle(session: Session, order: Order, payment: Payment, result: ChargeResult) -> bool:
    """Compare-and-set PENDING -> CONFIRMED | FAILED; True if this call moved it.

    The caller holds the order and payment row locks. A final payment never moves again; a
    result that contradicts it is ignored when harmless (a late failure after a success) and
    raises when it means money moved on a payment we consider FAILED.
    """
    # "action": the customer has yet to act; "authorized": held, not captured yet
    if result.outcome in ("unknown", "action", "authorized"):
        return False
    if payment.status != "PENDING":
        if payment.status == "FAILED" and result.outcome == "succeeded":
            raise ImpossibleState(f"payment {payment.id} is FAILED but the provider charged it")
        return False
    now = utcnow()
    if result.outcome == "succeeded":
        if order.status == "paid":
            raise ImpossibleState(f"order {order.id} is already paid; {payment.id} was PENDING")
        payment.status = "CONFIRMED"
        order.status, order.updated_at = "paid", now
        if payment.capture_method == "manual":
            payment.capture_status = "captured"
    else:
        payment.status = "FAILED"
        payment.active_order_id = None
        payment.failure_code = result.code or "payment_failed"
        order.confirm_key, order.updated_at = None, now  # the page gets a fresh key
    if result.intent_id:
        payment.provider_payment_intent = result.intent_id
    payment.action_url = None  # final: no challenge left to offer
    payment.updated_at = now
    session.flush()
    return True


def lock_order(session: Session, order_id: str, *, user: str | None = None) -> Order | None:
    if user is None:
        return session.execute(sql.LOCK_ORDER, {"order_id": order_id}).scalar_one_or_none()
    params = {"order_id": order_id, "user": user}
    return session.execute(sql.LOCK_USERS_ORDER, params).scalar_one_or_none()


def lock_order_and_payment(
    session: Session, payment_id: str, order_id: str | None = None
) -> tuple[Order, Payment]:
    """Lock a payment's order, then the payment (always in that order), fresh from the DB.
    ``order_id``: the payment's order when the caller knows it (saves reading it first)."""
    if order_id is None:
        order_id = session.get_one(Payment, payment_id).order_id
    order = lock_order(session, order_id)
    if order is None:
        raise ImpossibleState(f"payment {payment_id} has no order")
    return order, lock_payment(session, payment_id)


def lock_payment(session: Session, payment_id: str) -> Payment:
    return session.execute(sql.LOCK_PAYMENT, {"payment_id": payment_id}).scalar_one()


def active_payment(session: Session, order_id: str) -> Payment | None:
    """The order's PENDING or CONFIRMED payment (at most one: UNIQUE active_order_id)."""
    params = {"order_id": order_id}
    return session.execute(sql.LOCK_ACTIVE_PAYMENT, params).scalar_one_or_none()


def live_lease(
    session: Session, payment_id: str, now: datetime, *, exclude: int | None = None
) -> datetime | None:
    """When the latest live lease on a request working on this payment ends, or None."""
    query = sa.select(sa.func.max(IdempotencyKey.locked_until)).where(
        IdempotencyKey.payment_id == payment_id,
        IdempotencyKey.recovery_point != "finished",
        IdempotencyKey.locked_until > now,
    )
    if exclude is not None:
        query = query.where(IdempotencyKey.id != exclude)
    until = session.execute(query).scalar_one_or_none()
    if until is None:
        return None
    # Aggregates bypass the column type on some drivers: normalise to aware UTC.
    if isinstance(until, str):
        until = datetime.fromisoformat(until)
    return until if until.tzinfo else until.replace(tzinfo=now.tzinfo)


def cancel_for_new_attempt(
    session: Session, payment: Payment, now: datetime, *, code: str = "superseded"
) -> None:
    """Only flaws call this: give up a live payment without asking the provider."""
    payment.status, payment.active_order_id = "FAILED", None
    payment.failure_code, payment.updated_at = code, now
    session.flush()


def new_payment(
    order: Order, payment_method: str, now: datetime, amount: int | None = None
) -> Payment:
    payment_id = "pay_" + secrets.token_hex(12)
    return Payment(
        id=payment_id,
        order_id=order.id,
        active_order_id=order.id,
        status="PENDING",
        amount=order.amount if amount is None else amount,
        currency=order.currency,
        payment_method=payment_method,
        provider_idempotency_key=provider_key(payment_id),
        created_at=now,
        updated_at=now,
    )


def provider_key(payment_id: str) -> str:
    """The provider idempotency key: derived from our payment id, never the client's key."""
    return f"nodouble-pay-{payment_id}"


def charge_request(payment: Payment) -> ChargeRequest:
    return ChargeRequest(
        provider_key=payment.provider_idempotency_key,
        amount=payment.amount,
        currency=payment.currency,
        payment_method=payment.payment_method,
        order_id=payment.order_id,
        payment_id=payment.id,
        return_url=payment.return_url,
        capture_method=payment.capture_method,
    )


def resume(key_row_id: int, payment: Payment, request: ConfirmRequest) -> Charge:
    """Charge a PENDING payment again: replay its create call, or, while it awaits 3-D
    Secure, confirm its one intent again with the card this request names (the old
    challenge is then void). The confirm's provider key is derived from our key row, so a
    retry of this request repeats that confirm and nothing else."""
    if payment.action_url is None or payment.provider_payment_intent is None:
        return Charge(key_row_id, payment.id, charge_request(payment), created=False)
    payment.payment_method = str(request.payload["payment_method"])
    if request.return_url:
        payment.return_url = request.return_url
    base = charge_request(payment)
    again = replace(base, provider_key=f"{base.provider_key}-k{key_row_id}")
    return Charge(key_row_id, payment.id, again, False, reconfirm=payment.provider_payment_intent)


# -- responses -------------------------------------------------------------------------------


def outcome_for(order: Order, payment: Payment) -> ConfirmOutcome:
    """The final answer for a settled payment: 200 paid or 402 declined."""
    if payment.status == "CONFIRMED":
        return ConfirmOutcome(200, success_body(order, payment), {})
    if payment.status == "FAILED":
        return problem(
            402,
            "card-declined",
            f"The payment was declined ({payment.failure_code}); nothing was charged. "
            "Try another payment method with a new Idempotency-Key.",
            order_id=order.id,
            payment_id=payment.id,
            code=payment.failure_code,
        )
    raise ImpossibleState(f"payment {payment.id} is {payment.status}, not final")


def success_body(order: Order, payment: Payment) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "status": "paid",
        "payment_id": payment.id,
        "provider_payment_intent": payment.provider_payment_intent,
        "amount": payment.amount,
        "currency": payment.currency,
    }


def requires_action(
    order: Order, payment: Payment, result: ChargeResult, now: datetime
) -> ConfirmOutcome:
    """202: the payment waits for the customer's 3-D Secure; nothing is charged yet.

    The caller holds the order and payment locks. The payment stays PENDING with its
    challenge page; the order's page key is rotated so that the next Pay (another card, a
    second tab) is a new request, which confirms this same intent again."""
    payment.action_url = result.action_url
    if result.intent_id:
        payment.provider_payment_intent = result.intent_id
    payment.updated_at = order.updated_at = now
    order.confirm_key = None
    return ConfirmOutcome(
        202,
        {
            "order_id": order.id,
            "status": "requires_action",
            "payment_id": payment.id,
            "next_action": {
                "type": "redirect_to_url",
                "redirect_to_url": {"url": result.action_url},
            },
            "detail": "The card asks for 3-D Secure: send the customer to next_action's URL. "
            "The order is paid only once the provider confirms it; nothing is charged yet.",
        },
        {},
    )


def processing(order: Order, payment: Payment) -> ConfirmOutcome:
    """202: the provider may or may not have charged; we are finding out. Never "failed"."""
    return ConfirmOutcome(
        202,
        {
            "order_id": order.id,
            "status": "processing",
            "payment_id": payment.id,
            "detail": "The payment provider did not give a definite answer. The payment is "
            "being checked; retry with the same Idempotency-Key or reload the order.",
        },
        {"Retry-After": "1"},  # a retry resumes the charge at once; no need to wait long
    )


HOSTED_OPENED = (
    "A payment page at the payment provider was opened for this order at the same moment. "
    "Nothing was charged by this request; pay on that page, or retry with the same "
    "Idempotency-Key to close it and pay by card."
)


def hosted_open(session: Session, order_id: str) -> bool:
    """True if the order has a hosted session that may still be paid. Called under the
    order's row lock, which the hosted button's claim takes too, so the two never both pass."""
    found = session.execute(sql.HOSTED_OPEN_UNDER_LOCK, {"order_id": order_id}).first()
    return found is not None


def in_progress(remaining: timedelta) -> ConfirmOutcome:
    seconds = max(1, math.ceil(remaining.total_seconds()))
    outcome = problem(
        409,
        "confirm-in-progress",
        "Another request is confirming this order right now. Retry with the same "
        "Idempotency-Key after Retry-After seconds.",
    )
    return ConfirmOutcome(
        outcome.status, outcome.body, {**outcome.headers, "Retry-After": str(seconds)}
    )


def store(key: IdempotencyKey, outcome: ConfirmOutcome) -> ConfirmOutcome:
    """Record ``outcome`` as the key's final response and release its lease."""
    key.recovery_point = "finished"
    key.response_status = outcome.status
    key.response_headers = json.dumps(outcome.headers, sort_keys=True)
    key.response_body = render(outcome.body)
    key.locked_until = key.lease_token = None
    return outcome


def render(body: dict[str, Any]) -> str:
    """The JSON text of an answer exactly as the API sends it (what Starlette's
    ``JSONResponse`` writes); stored so that a replay sends the same bytes again."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def replay(key: IdempotencyKey) -> ConfirmOutcome:
    if key.response_status is None or key.response_body is None:
        raise ImpossibleState(f"key {key.id} is finished without a stored response")
    headers = json.loads(key.response_headers or "{}")
    headers[REPLAYED_HEADER] = "true"
    return ConfirmOutcome(key.response_status, json.loads(key.response_body), headers, True)
