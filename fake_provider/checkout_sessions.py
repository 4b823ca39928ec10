"""Hosted Checkout: ``/v1/checkout/sessions`` and the payment page the fake serves for them.

A session is created open and unpaid. Paying it (the hosted page at ``session.url``, or
``POST /_fake/checkout/sessions/{id}/pay``) runs the ordinary PaymentIntent path, create
and confirm, under the provider's state lock, so it charges at most once: a paid session
answers "already paid" and an expired one cannot be paid. The ledger lines of that payment
carry the session's ``metadata`` overlaid with ``payment_intent_data[metadata]``; the
PaymentIntent itself carries only the latter, as on Stripe.
"""

from __future__ import annotations

import contextlib
import copy
import secrets
from dataclasses import dataclass
from typing import Any, Literal, cast

from fake_provider._checkout_params import line_items, position, url
from fake_provider._errors import StripeError, invalid, missing_param, not_found, unknown_param
from fake_provider._params import (
    MAX_AMOUNT,
    Params,
    check_known,
    check_minimum,
    get_choice,
    get_expand,
    get_int,
    get_metadata,
    get_str,
)
from fake_provider._provider import Provider
from fake_provider.intents import Ctx, Payments, Work
from fake_provider.ledger import Ledger
from fake_provider.types import JSON

TABLE = "checkout_sessions"
SESSION_TTL = 86400
"""Seconds an open session lives unless ``expires_at`` says otherwise (Stripe: 24 h)."""
MIN_TTL = 1800
"""The earliest ``expires_at`` Stripe accepts: 30 minutes after creation."""
HOSTED_CARDS = (
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
)
"""The test cards the hosted page offers (the first is the default)."""
IGNORED = frozenset(
    {
        "locale",
        "submit_type",
        "billing_address_collection",
        "customer_creation",
        "allow_promotion_codes",
        "payment_method_types",
    }
)
Outcome = Literal["paid", "already_paid", "declined", "expired"]


@dataclass(frozen=True)
class Payment:
    """What one attempt to pay a session did."""

    outcome: Outcome
    session: JSON
    message: str | None = None
    """Why a card was declined (``declined`` only)."""

    @property
    def redirect_url(self) -> str | None:
        """Where the browser goes after paying: ``success_url`` with the id substituted."""
        url = self.session["success_url"]
        if self.outcome not in ("paid", "already_paid") or not url:
            return None
        return str(url).replace("{CHECKOUT_SESSION_ID}", self.session["id"])


class _SessionLedger:
    """The ledger as a session's payment sees it: every line also carries the session's
    metadata, so the business key put on the session finds the charge."""

    def __init__(self, ledger: Ledger, metadata: dict[str, str]) -> None:
        self._ledger, self._metadata = ledger, metadata

    def record(self, kind: Any, **fields: Any) -> Any:
        fields["metadata"] = {**self._metadata, **(fields.get("metadata") or {})}
        return self._ledger.record(kind, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


class CheckoutSessions:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.store = provider.store

    def now(self) -> float:
        """The fake's clock, so ``POST /_fake/clock`` can make a session expire."""
        return self.provider.clock.now()

    # -- create --------------------------------------------------------------------
    def prepare_create(self, params: Params, base_url: str) -> Work:
        allowed = {
            "mode",
            "line_items",
            "success_url",
            "cancel_url",
            "metadata",
            "client_reference_id",
            "payment_intent_data",
            "customer_email",
            "expires_at",
            "expand",
            "ui_mode",
        }
        check_known(params, allowed, IGNORED)
        types = params.get("payment_method_types")
        if types is not None and (not isinstance(types, list) or set(types) - {"card"}):
            raise invalid(
                "The fake supports only payment_method_types=['card'].",
                param="payment_method_types",
            )
        mode = get_choice(params, "mode", ("payment", "setup", "subscription"))
        if mode is None:
            raise missing_param("mode")
        if mode != "payment":
            raise invalid(f"The fake supports only mode=payment, not {mode}.", param="mode")
        if get_choice(params, "ui_mode", ("hosted", "embedded", "custom")) not in (None, "hosted"):
            raise invalid("The fake supports only ui_mode=hosted.", param="ui_mode")
        items = line_items(params.get("line_items"))
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise invalid("All line_items must use the same currency.", param="line_items")
        total = sum(item["amount_total"] for item in items)
        if total < 1:
            raise invalid(
                "The total of a payment session must be at least 1.",
                param="line_items",
                code="amount_too_small",
            )
        if total > MAX_AMOUNT:
            raise invalid(
                f"The total must be at most {MAX_AMOUNT}.",
                param="line_items",
                code="amount_too_large",
            )
        if self.provider.payments.minimum_amounts:  # the same check as intents
            check_minimum(total, items[0]["currency"], "line_items")
        success_url = url(params, "success_url")
        cancel_url = url(params, "cancel_url")
        metadata = get_metadata(params) or {}
        reference = get_str(params, "client_reference_id", max_len=200) or None
        email = get_str(params, "customer_email", max_len=800) or None
        pi_data = params.get("payment_intent_data") or {}
        if not isinstance(pi_data, dict):
            raise invalid("payment_intent_data must be an object.", param="payment_intent_data")
        for name in pi_data:
            if name not in ("metadata", "description"):
                raise unknown_param(f"payment_intent_data[{name}]")
        pi_metadata = get_metadata(pi_data) or {}
        pi_description = get_str(pi_data, "description", max_len=1000)
        expires_at = get_int(params, "expires_at")
        expand = get_expand(params)
        created = int(self.now())
        if expires_at is not None and not created + MIN_TTL <= expires_at <= created + SESSION_TTL:
            raise invalid(
                "expires_at must be from 30 minutes to 24 hours after now.", param="expires_at"
            )

        def work(ctx: Ctx) -> JSON:
            session_id = f"cs_test_{secrets.token_urlsafe(42).replace('-', 'a').replace('_', 'b')}"
            session: JSON = {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": cancel_url,
                "client_reference_id": reference,
                "created": created,
                "currency": items[0]["currency"],
                "customer": None,
                "customer_email": email,
                "expires_at": expires_at or created + SESSION_TTL,
                "livemode": False,
                "metadata": metadata,
                "mode": "payment",
                "payment_intent": None,  # made when the customer pays, as since 2022-08-01
                "payment_method_types": ["card"],
                "payment_status": "unpaid",
                "status": "open",
                "success_url": success_url,
                "ui_mode": "hosted",
                "url": f"{base_url.rstrip('/')}/c/pay/{session_id}",
            }
            order = 1 + max((r["n"] for r in self.store.values(TABLE)), default=0)
            self.store.put(
                TABLE,
                session_id,
                {
                    "account": ctx.account,
                    "obj": session,
                    "n": order,
                    "line_items": items,
                    "pi": {"metadata": pi_metadata, "description": pi_description},
                },
            )
            return self._view(session_id, expand)

        return work

    # -- read, list, expire --------------------------------------------------------
    def prepare_retrieve(self, session_id: str, params: Params) -> Work:
        check_known(params, {"expand"})
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            self._load(session_id, ctx.account)
            return self._view(session_id, expand)

        return work

    def prepare_line_items(self, session_id: str, params: Params) -> Work:
        check_known(params, {"limit", "starting_after", "ending_before", "expand"})

        def work(ctx: Ctx) -> JSON:
            self._load(session_id, ctx.account)
            return self._items(session_id)

        return work

    def prepare_list(self, params: Params) -> Work:
        known = {"limit", "starting_after", "ending_before", "payment_intent", "status", "expand"}
        check_known(params, known)
        limit = get_int(params, "limit") or 10
        if not 1 <= limit <= 100:
            raise invalid("Invalid limit: it must be from 1 to 100.", param="limit")
        after = get_str(params, "starting_after", max_len=255) or None
        before = get_str(params, "ending_before", max_len=255) or None
        intent = get_str(params, "payment_intent", max_len=255) or None
        status = get_choice(params, "status", ("open", "complete", "expired"))
        expand = [e.removeprefix("data.") for e in get_expand(params)]

        def work(ctx: Ctx) -> JSON:
            mine = [r["obj"]["id"] for r in self.store.values(TABLE) if r["account"] == ctx.account]
            for session_id in mine:
                self._refresh(session_id)
            rows = sorted((self.store.get(TABLE, i) for i in mine), key=lambda r: -r["n"])
            found = [  # newest first
                r["obj"]["id"]
                for r in rows
                if (intent is None or r["obj"]["payment_intent"] == intent)
                and (status is None or r["obj"]["status"] == status)
            ]
            if after is not None:
                rest = found[position(found, after, "starting_after") + 1 :]
                found, more_left = rest[:limit], len(rest) > limit
            elif before is not None:
                earlier = found[: position(found, before, "ending_before")]
                found, more_left = earlier[-limit:], len(earlier) > limit
            else:
                found, more_left = found[:limit], len(found) > limit
            return {
                "object": "list",
                "url": "/v1/checkout/sessions",
                "has_more": more_left,
                "data": [self._view(i, expand) for i in found],
            }

        return work

    def prepare_expire(self, session_id: str, params: Params) -> Work:
        check_known(params, {"expand"})
        expand = get_expand(params)

        def work(ctx: Ctx) -> JSON:
            session = self._load(session_id, ctx.account)
            if session["status"] != "open":
                raise StripeError(
                    400,
                    "invalid_request_error",
                    f"This Checkout Session is {session['status']}: only an open Checkout "
                    "Session can be expired.",
                    param="session",
                )
            self._expire(session_id, ctx)
            return self._view(session_id, expand)

        return work

    # -- paying --------------------------------------------------------------------
    def pay(self, session_id: str, payment_method: str = HOSTED_CARDS[0]) -> Payment:
        """Pay a session with a test card, once: the hosted page and the control API."""
        if payment_method not in HOSTED_CARDS:
            raise ValueError(f"payment_method must be one of {', '.join(HOSTED_CARDS)}")
        with self.provider.lock:
            row = self.store.get(TABLE, session_id)
            if row is None:
                raise KeyError(session_id)
            self._refresh(session_id)
            row = self.store.get(TABLE, session_id)
            session: JSON = copy.deepcopy(row["obj"])
            if session["status"] == "complete":
                return Payment("already_paid", session)
            if session["status"] == "expired":
                return Payment("expired", session)
            ctx = Ctx(row["account"], None)  # the customer's click, not an API request
            payments = self._payments(row)
            try:
                if session["payment_intent"] is None:
                    form: Params = {
                        "amount": str(session["amount_total"]),
                        "currency": session["currency"],
                        "metadata": dict(row["pi"]["metadata"]),
                        "payment_method": payment_method,
                        "confirm": "true",
                    }
                    if row["pi"]["description"]:
                        form["description"] = row["pi"]["description"]
                    intent = payments.prepare_create(form)(ctx)
                else:  # a card was declined before: the same PaymentIntent is confirmed again
                    form = {"payment_method": payment_method}
                    intent = payments.prepare_confirm(session["payment_intent"], form)(ctx)
            except StripeError as exc:
                failed = exc.extra.get("payment_intent")
                if isinstance(failed, dict):
                    session["payment_intent"] = failed["id"]
                    self._save(row, session)
                return Payment("declined", session, exc.message)
            session["payment_intent"] = intent["id"]
            if intent["status"] != "succeeded":
                self._save(row, session)
                return Payment("declined", session, f"The payment is {intent['status']}.")
            session.update(status="complete", payment_status="paid", url=None)
            self._save(row, session)
            self.provider.webhooks.emit(ctx, "checkout.session.completed", session)
            return Payment("paid", session)

    # -- helpers -------------------------------------------------------------------
    def _payments(self, row: JSON) -> Payments:
        metadata = {**row["obj"]["metadata"], **row["pi"]["metadata"]}
        payments = copy.copy(self.provider.payments)
        payments.ledger = cast(Ledger, _SessionLedger(self.provider.ledger, metadata))
        return payments

    def _load(self, session_id: str, account: str) -> JSON:
        row = self.store.get(TABLE, session_id)
        if row is None or row["account"] != account:
            raise not_found("checkout.session", session_id, "session")
        self._refresh(session_id)
        session: JSON = copy.deepcopy(self.store.get(TABLE, session_id)["obj"])
        return session

    def _save(self, row: JSON, session: JSON) -> None:
        self.store.put(TABLE, session["id"], {**row, "obj": copy.deepcopy(session)})

    def _refresh(self, session_id: str) -> None:
        """An open session whose ``expires_at`` has passed expires now."""
        row = self.store.get(TABLE, session_id)
        if row["obj"]["status"] == "open" and self.now() >= row["obj"]["expires_at"]:
            self._expire(session_id, Ctx(row["account"], None))

    def _expire(self, session_id: str, ctx: Ctx) -> None:
        row = self.store.get(TABLE, session_id)
        session = copy.deepcopy(row["obj"])
        session.update(status="expired", url=None)
        self._save(row, session)
        intent_id = session["payment_intent"]
        if intent_id is not None:  # a declined attempt left an intent: it is canceled
            with contextlib.suppress(StripeError):
                self._payments(row).prepare_cancel(intent_id, {})(ctx)
        self.provider.webhooks.emit(ctx, "checkout.session.expired", session)

    def _items(self, session_id: str) -> JSON:
        items = self.store.get(TABLE, session_id)["line_items"]
        return {
            "object": "list",
            "data": copy.deepcopy(items),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    def _view(self, session_id: str, expand: list[str]) -> JSON:
        row = self.store.get(TABLE, session_id)
        shown: JSON = copy.deepcopy(row["obj"])
        if "line_items" in expand:
            shown["line_items"] = self._items(session_id)
        if "payment_intent" in expand and shown["payment_intent"]:
            shown["payment_intent"] = self.provider.payments.load(
                "intents", "payment_intent", shown["payment_intent"], row["account"], "id"
            )
        return shown

    def line_items(self, session_id: str) -> list[JSON]:
        return list(self.store.get(TABLE, session_id)["line_items"])
