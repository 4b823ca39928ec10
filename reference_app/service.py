"""``CheckoutService``: what the JSON API and the HTML pages both call (app.state.service)."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from reference_app import authorization, catalog, db, flaws
from reference_app.capture import Capturer
from reference_app.checkout import Checkout, ConfirmRequest, Lookup, key_problem, problem
from reference_app.config import Settings
from reference_app.models import Order, Payment, utcnow
from reference_app.provider import ProviderClient
from reference_app.schemas import (
    ConfirmIn,
    ConfirmOutcome,
    LineItemIn,
    LineItemOut,
    OrderView,
    PaymentView,
    Product,
)


class UnknownProduct(ValueError):
    """An order names a SKU the catalog does not have."""


class OrderNotFound(LookupError):
    """No such order for this user."""


class CheckoutService:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], provider: ProviderClient
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._checkout = Checkout(sessions, provider, settings)
        self._capturer = Capturer(sessions, provider, settings, self._checkout)

    def catalog(self) -> list[Product]:
        return [
            Product(sku=p.sku, name=p.name, unit_amount=p.unit_amount, currency=p.currency)
            for p in catalog.PRODUCTS
        ]

    def create_order(self, user: str, items: list[LineItemIn]) -> OrderView:
        """Price ``items`` from the catalog (client prices do not exist) and store the order."""
        if not items:
            raise ValueError("an order needs at least one item")
        lines: list[dict[str, Any]] = []
        for item in items:
            product = catalog.find(item.sku)
            if product is None:
                raise UnknownProduct(f"unknown sku {item.sku!r}")
            if not 1 <= item.quantity <= catalog.MAX_QUANTITY:
                raise ValueError(f"quantity must be 1-{catalog.MAX_QUANTITY}")
            lines.append(
                {
                    "sku": product.sku,
                    "name": product.name,
                    "quantity": item.quantity,
                    "unit_amount": product.unit_amount,
                    "amount": product.unit_amount * item.quantity,
                }
            )
        now = utcnow()
        order = Order(
            id="ord_" + secrets.token_hex(10),
            user_id=user,
            line_items=lines,
            amount=sum(line["amount"] for line in lines),
            currency=catalog.CURRENCY,
            status="open",
            confirm_key=None,
            created_at=now,
            updated_at=now,
        )

        def work(session: Session) -> OrderView:
            session.add(order)
            session.flush()
            return _view(order, None)

        return db.transaction(self._sessions, work)

    def get_order(self, user: str, order_id: str) -> OrderView | None:
        def work(session: Session) -> OrderView | None:
            order = session.execute(
                sa.select(Order).where(Order.id == order_id, Order.user_id == user)
            ).scalar_one_or_none()
            if order is None:
                return None
            payment = session.execute(
                sa.select(Payment)
                .where(Payment.order_id == order.id)
                .order_by((Payment.active_order_id.is_(None)).asc(), Payment.created_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            return _view(order, payment)

        return db.transaction(self._sessions, work, read_only=True)

    def look_up(
        self,
        user: str,
        order_id: str,
        key: str | None,
        payload: dict[str, Any],
        *,
        method: str,
        path: str,
    ) -> Lookup:
        """The replay fast path: the answer stored for this exact request (or 422 for a key
        used with another body), read without a lock or a write, and whether the order has
        a hosted session to close first; no answer when ``confirm`` must decide (see
        ``Checkout.look_up``)."""
        if flaws.active(self.settings, "no_idempotency"):
            return Lookup(None)  # that flaw never looks the client's key up
        request = self._request(user, order_id, key, payload, method, path)
        if not isinstance(request, ConfirmRequest):
            return Lookup(None)  # a refused request: confirm answers it
        return self._checkout.look_up(request)

    def confirm(
        self,
        user: str,
        order_id: str,
        key: str | None,
        payload: dict[str, Any],
        *,
        method: str,
        path: str,
        return_url: str | None = None,
    ) -> ConfirmOutcome:
        """Pay the order at most once, whatever the client repeats (see checkout.py)."""
        if flaws.active(self.settings, "no_idempotency"):
            # FLAW(no_idempotency): the client's key is thrown away; every request, even a
            # retry or one without a key, is processed as a brand-new request.
            key = "ignored-" + secrets.token_hex(12)
        request = self._request(user, order_id, key, payload, method, path, return_url)
        if not isinstance(request, ConfirmRequest):
            return request
        return self._checkout.confirm(request)

    def _request(
        self,
        user: str,
        order_id: str,
        key: str | None,
        payload: dict[str, Any],
        method: str,
        path: str,
        return_url: str | None = None,
    ) -> ConfirmRequest | ConfirmOutcome:
        """The confirm request with its body normalised (what its fingerprint is taken of),
        or the answer refusing it: a bad key, an invalid body, a manual capture refused."""
        bad_key = key_problem(key)
        if bad_key is not None:
            return bad_key
        assert key is not None
        try:
            body = ConfirmIn.model_validate(payload)
        except ValidationError as exc:
            errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
            return problem(422, "validation", "The confirm body is invalid.", errors=errors)
        payload = body.model_dump(exclude_none=True)
        if authorization.manual_refused(payload, self.settings):
            return problem(
                422,
                "manual-capture-off",
                "This checkout captures at once (NODOUBLE_CAPTURE_METHOD=automatic_only); "
                'leave capture_method out or send "automatic".',
            )
        return ConfirmRequest(user, order_id, key, payload, method, path, return_url)

    def capture(
        self, user: str, order_id: str, key: str | None, *, method: str, path: str
    ) -> ConfirmOutcome:
        """Take the money of an authorised order, at most once (see capture.py)."""
        bad_key = key_problem(key)
        if bad_key is not None:
            return bad_key
        assert key is not None
        return self._capturer.capture(ConfirmRequest(user, order_id, key, {}, method, path))

    def page_confirm_key(self, user: str, order_id: str) -> str:
        """The confirm page's server-issued key: stable until a payment attempt fails.

        Raises ``OrderNotFound`` when the order is missing or not the user's.
        """

        def work(session: Session) -> str:
            order = session.execute(
                sa.select(Order)
                .where(Order.id == order_id, Order.user_id == user)
                .with_for_update()
            ).scalar_one_or_none()
            if order is None:
                raise OrderNotFound(order_id)
            if order.confirm_key is None:
                order.confirm_key = "pck_" + secrets.token_urlsafe(24)
            return order.confirm_key

        return db.transaction(self._sessions, work)


def _view(order: Order, payment: Payment | None) -> OrderView:
    status = order.status
    if payment is not None and payment.status == "PENDING" and payment.capture_status:
        status = "authorized"  # manual capture: held, not taken
    return OrderView(
        order_id=order.id,
        status=status,
        amount=order.amount,
        currency=order.currency,
        items=[LineItemOut.model_validate(line) for line in order.line_items],
        payment=None
        if payment is None
        else PaymentView(
            payment_id=payment.id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            provider_payment_intent=payment.provider_payment_intent,
            failure_code=payment.failure_code,
            action_url=payment.action_url if payment.status == "PENDING" else None,
            capture_method=payment.capture_method,
            capture_status=payment.capture_status,
        ),
    )
