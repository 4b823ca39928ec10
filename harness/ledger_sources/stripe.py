"""Stripe's test mode as the ledger, read through Stripe's public API only.

A staging checkout that pays through Stripe's test mode leaves its money in the account's
charges and refunds. This source reads them with the account's test key and nothing else:
``GET /v1/charges``, ``/v1/refunds`` and ``/v1/payment_intents`` (whose metadata a charge
may lack), each filtered by ``created[gte]`` and paged with ``limit=100``,
``starting_after`` and ``has_more`` (Stripe lists newest first). It never calls the search
endpoints: Stripe says their results can lag behind writes by a minute, and a ledger read
that misses a charge would pass a double charge. It never calls ``/_fake/``.

Rows, as the checkers see them:

- a charge that succeeded and was captured is a ``charge`` (an authorisation not captured
  yet is no row until it is);
- a charge that failed is a ``decline``;
- a refund that succeeded is a ``refund`` of its charge (``charge_id``).

A row's metadata is its PaymentIntent's, overlaid with the charge's (or refund's) own, so
the business key is found on either. When neither names the business key, the Checkout
Session that made the PaymentIntent (``GET /v1/checkout/sessions?payment_intent=``, once
per PaymentIntent) lends its ``metadata`` and its ``client_reference_id`` (under that
name), as the fake's own ledger does for the metadata.

A charge's ``idempotency_key`` comes from the ``payment_intent.succeeded`` or
``payment_intent.payment_failed`` event about it (``GET /v1/events``: the event's
``request.idempotency_key`` is the key of the request that charged). It is evidence for
the report only; a key that cannot read events leaves it empty.

Every read carries ``Stripe-Version`` (:data:`API_VERSION`): on an account whose default
version is older, a partial capture or a cancelled authorisation would otherwise list a
refund for money that was only released.

Stripe has no ledger sequence, so rows are numbered here, ``seq`` 1, 2, ... in the order
a poll first sees them (oldest first within a poll); the cursor is the number of rows
seen so far, after a fresh poll. Every row seen by the first poll existed before the
harness run and is below the first cursor: never judged.

The first poll lists from ``created[gte]`` = now minus :data:`MARGIN_S`, so a charge
stamped by a clock behind ours is still listed; objects are deduplicated by id.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from harness._tls import tls_context
from harness.ledger import LedgerEntry
from harness.types import JSONDict, LedgerKind

DEFAULT_BASE = "https://api.stripe.com"
API_VERSION = "2025-03-31.basil"
"""Sent as ``Stripe-Version`` on every read, so what is read does not depend on the
account's default API version. Before this version a partial capture, and the cancellation
of an authorisation, made a ``Refund`` object for the money released (never taken): read
with an older version, those would be ledger refunds of money that never moved."""
MARGIN_S = 300
"""Seconds before the source opened that its lists start from (clock skew, late lists)."""
MIN_POLL_S = 1.0
"""Polls closer together than this reuse the last one (Stripe rate-limits test mode)."""
QUIET_POLLS = 3
"""Settle waits for at least this many polls in a row that add no row."""
RETRIES = 5
"""Attempts of one request answered 429 (rate limited) or 5xx, with a growing pause."""
REASON = (
    'the ledger is Stripe\'s test mode ([provider] ledger = "stripe"): this scenario needs '
    "the fake provider's control API ({what}), which Stripe does not have"
)
UNAVAILABLE = {
    "provider_faults": REASON.format(what="/_fake/faults arms provider faults"),
    "webhooks": REASON.format(
        what="/_fake/webhooks registers, delivers and replays events; the forged-event "
        "scenario shares this capability"
    ),
    "threeds": REASON.format(
        what="the fake's own challenge page GET /3ds/{intent}, whose Complete and Fail "
        "buttons the steps press, and POST /_fake/3ds/{intent}, which finishes a challenge "
        "late; Stripe's test challenge is another page"
    ),
    "hosted_checkout": REASON.format(
        what="the fake's own hosted page GET /c/pay/{session}, whose Pay button the steps "
        "press, and POST /_fake/checkout/sessions/{session}/pay, which pays a session "
        "without a browser; Stripe's hosted page is another page"
    ),
}


class StripeLedger:
    """Polls the account's charges, refunds and PaymentIntents; thread-safe."""

    account_probe = False

    def __init__(
        self,
        key: str,
        base_url: str = DEFAULT_BASE,
        *,
        since: float | None = None,
        business_key: str = "order_id",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.business_key = business_key
        self.unavailable = dict(UNAVAILABLE)
        self._hint = f"{key[:8]}...{key[-4:]}"
        self._since = int((time.time() if since is None else since) - MARGIN_S)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}", "Stripe-Version": API_VERSION},
            timeout=30,
            transport=transport,
            verify=tls_context(),
        )
        self._lock = threading.Lock()
        self._rows: list[LedgerEntry] = []
        self._done: set[str] = set()
        """Ids of objects already turned into a row (an object becomes a row once)."""
        self._intents: dict[str, dict[str, str]] = {}
        """PaymentIntent id → its metadata."""
        self._keys: dict[str, str] = {}
        """Charge id → the idempotency key of the request that made it (from events)."""
        self.events_read: bool | None = None
        """Whether the last poll could list events (``None``: no poll yet)."""
        self._sessions: dict[str, dict[str, str]] = {}
        """PaymentIntent id → what its Checkout Session lends (empty: no session)."""
        self._polled_at = 0.0
        self.polls = 0
        """Polls made (each one lists every resource to its last page)."""

    def describe(self) -> str:
        return (
            f"Stripe test-mode charges, refunds and PaymentIntents at {self.base_url} "
            f"(key {self._hint}), listed by creation time"
        )

    def check(self) -> None:
        from harness._preflight import SetupError

        try:
            self._get("/v1/charges", {"limit": 1})
        except _ReadError as exc:
            raise SetupError(f"the Stripe ledger cannot be read: {exc}") from None

    # -- LedgerSource -------------------------------------------------------------------

    def cursor(self) -> int:
        with self._lock:
            self._poll(force=True)
            return len(self._rows)

    def rows(self, after_seq: int) -> list[LedgerEntry]:
        with self._lock:
            self._poll(force=True)
            return list(self._rows[after_seq:])

    def settle(self, quiet_s: float, limit_s: float) -> None:
        limit = time.monotonic() + limit_s
        last, quiet_polls, since = self.cursor(), 0, time.monotonic()
        while time.monotonic() < limit and (
            quiet_polls < QUIET_POLLS or time.monotonic() - since < quiet_s
        ):
            time.sleep(MIN_POLL_S)
            now = self.cursor()
            quiet_polls = 0 if now != last else quiet_polls + 1
            if now != last:
                last, since = now, time.monotonic()

    def charged(self, field: str, value: str) -> bool:
        with self._lock:
            self._poll(force=False)
            return any(r.kind == "charge" and r.metadata.get(field) == value for r in self._rows)

    def close(self) -> None:
        self._http.close()

    # -- reading --------------------------------------------------------------------------

    def _poll(self, *, force: bool) -> None:
        if not force and time.monotonic() - self._polled_at < MIN_POLL_S:
            return
        intents = list(self._list("/v1/payment_intents"))
        charges = list(self._list("/v1/charges"))
        refunds = list(self._list("/v1/refunds"))
        self._read_keys()  # after the charges: an event is never older than its charge
        self._polled_at = time.monotonic()
        self.polls += 1
        for intent in intents:
            self._intents[str(intent["id"])] = _metadata(intent)
        fresh: list[LedgerEntry] = []
        for obj in reversed(charges):  # oldest first: lists are newest first
            kind = _charge_kind(obj)
            if kind is not None and obj["id"] not in self._done:
                fresh.append(self._row(obj, kind, str(obj["id"])))
        for obj in reversed(refunds):
            if obj.get("status") == "succeeded" and obj["id"] not in self._done:
                fresh.append(self._row(obj, "refund", _str(obj.get("charge"))))
        fresh.sort(key=lambda e: e.created if isinstance(e.created, int) else 0)
        for entry in fresh:
            self._done.add(entry.id)
            seq = len(self._rows) + 1
            self._rows.append(_with_seq(entry, seq))

    def _row(self, obj: JSONDict, kind: LedgerKind, charge_id: str | None) -> LedgerEntry:
        intent_id = _str(obj.get("payment_intent"))
        metadata = {**self._intent_metadata(intent_id), **_metadata(obj)}
        if self.business_key not in metadata and intent_id is not None:
            metadata = {**self._session_metadata(intent_id), **metadata}
        amount = obj.get("amount_captured") if kind == "charge" else obj.get("amount")
        return LedgerEntry(
            id=str(obj["id"]),
            kind=kind,
            amount=int(amount or obj.get("amount") or 0),
            currency=str(obj.get("currency") or ""),
            intent_id=intent_id,
            charge_id=charge_id,
            metadata=metadata,
            created=int(obj["created"]) if isinstance(obj.get("created"), int) else None,
            idempotency_key=self._keys.get(str(obj["id"])) if kind != "refund" else None,
        )

    def _intent_metadata(self, intent_id: str | None) -> dict[str, str]:
        if intent_id is None:
            return {}
        if intent_id not in self._intents:  # created before the lists' start: fetch it
            self._intents[intent_id] = _metadata(self._get(f"/v1/payment_intents/{intent_id}"))
        return self._intents[intent_id]

    def _session_metadata(self, intent_id: str) -> dict[str, str]:
        if intent_id not in self._sessions:
            page = self._get("/v1/checkout/sessions", {"payment_intent": intent_id, "limit": 1})
            lent: dict[str, str] = {}
            for session in page.get("data") or []:
                lent = _metadata(session)
                reference = session.get("client_reference_id")
                if reference and "client_reference_id" not in lent:
                    lent["client_reference_id"] = str(reference)
            self._sessions[intent_id] = lent
        return self._sessions[intent_id]

    def _read_keys(self) -> None:
        types = ["payment_intent.succeeded", "payment_intent.payment_failed"]
        try:
            events = list(self._list("/v1/events", {"types[]": types}))
        except _ReadError:  # a restricted key without events: rows keep no key
            self.events_read = False
            return
        self.events_read = True
        for event in events:
            intent = (event.get("data") or {}).get("object") or {}
            request = event.get("request")
            key = request.get("idempotency_key") if isinstance(request, dict) else None
            if event.get("type") == "payment_intent.succeeded":
                older = ((intent.get("charges") or {}).get("data") or [{}])[0]  # before 2022-11
                charge = _str(intent.get("latest_charge")) or _str(older.get("id"))
            else:
                charge = _str((intent.get("last_payment_error") or {}).get("charge"))
            if charge and key:
                self._keys.setdefault(charge, str(key))

    def _list(self, path: str, extra: dict[str, Any] | None = None) -> Iterator[JSONDict]:
        """Every object of one list created since the start, newest first, page by page."""
        params: dict[str, Any] = {"limit": 100, "created[gte]": self._since, **(extra or {})}
        while True:
            page = self._get(path, params)
            data = page.get("data")
            if not isinstance(data, list):
                raise _ReadError(f"GET {path} answered without a data list")
            for obj in data:
                if obj.get("livemode") is True:
                    raise _ReadError(f"GET {path} returned live-mode object {obj.get('id')}")
                yield obj
            if not page.get("has_more") or not data:
                return
            params = {**params, "starting_after": data[-1]["id"]}

    def _get(self, path: str, params: dict[str, Any] | None = None) -> JSONDict:
        pause = 0.5
        for attempt in range(RETRIES):
            try:
                response = self._http.get(path, params=params)
            except httpx.HTTPError as exc:
                raise _ReadError(f"GET {path}: {type(exc).__name__}: {exc}") from None
            status = response.status_code
            if (status == 429 or status >= 500) and attempt + 1 < RETRIES:
                time.sleep(pause)
                pause *= 2
                continue
            if status >= 400:
                raise _ReadError(f"GET {path} answered {status}: {_message(response)}")
            body: JSONDict = response.json()
            return body
        raise AssertionError("unreachable")  # pragma: no cover


class _ReadError(RuntimeError):
    """A read of Stripe's API failed; no ledger, no verdict."""


def _charge_kind(charge: JSONDict) -> LedgerKind | None:
    status = charge.get("status")
    if status == "succeeded" and charge.get("captured"):
        return "charge"
    if status == "failed":
        return "decline"
    return None  # pending, or authorised and not captured (yet)


def _with_seq(entry: LedgerEntry, seq: int) -> LedgerEntry:
    return LedgerEntry.from_row({**entry.to_row(), "seq": seq})


def _metadata(obj: JSONDict) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


def _str(value: Any) -> str | None:
    if isinstance(value, dict):  # expanded
        value = value.get("id")
    return None if value in (None, "") else str(value)


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or response.text[:200])
    except ValueError:
        return response.text[:200]
