"""Stripe-shaped events, signed and delivered to registered endpoints in the background.

Each endpoint has its own queue and one worker task, so the API response that
caused an event never waits for its delivery. Delivery options per endpoint:
``duplicate`` (extra copies of every event), ``shuffle`` (deliver each batch in a
random order, seeded), ``delay_ms`` (wait before each batch; with ``shuffle`` the
batch window is at least 50 ms), ``max_attempts`` (retry non-2xx and connection
errors with exponential backoff capped at 2 s) and ``timeout_ms``.

A *hold* on event types (``hold``) keeps their events out of every queue until
``release``: the harness uses it to let a customer's browser come back to the shop before
the shop hears of the payment.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from fake_provider._state import Store
from fake_provider.intents import Ctx
from fake_provider.types import JSON, Delivery

API_VERSION = "2024-06-20"
EVENT_TYPES = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.refunded",
    "checkout.session.completed",
    "checkout.session.expired",
)


DEFAULT_SECRET = "whsec_nodouble_dev"


class WebhookSpecError(ValueError):
    """An endpoint registration that cannot be used; the message names the field."""


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    events: list[str] = field(default_factory=lambda: ["*"])
    duplicate: int = 0
    shuffle: bool = False
    delay_ms: int = 0
    max_attempts: int = 3
    timeout_ms: int = 5000
    account: str | None = None
    """Only events of this API key (account); ``None``: every account's events."""

    def wants(self, event: JSON, account: str | None) -> bool:
        if self.account is not None and account != self.account:
            return False
        return "*" in self.events or event["type"] in self.events


def parse_endpoint(spec: dict[str, Any], default_secret: str = DEFAULT_SECRET) -> Endpoint:
    known = {
        "url",
        "secret",
        "events",
        "duplicate",
        "shuffle",
        "delay_ms",
        "max_attempts",
        "timeout_ms",
        "account",
    }
    if unknown := set(spec) - known:
        raise WebhookSpecError(f"unknown field(s) {sorted(unknown)}")
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WebhookSpecError(f"url must be an http(s) URL, got {url!r}")
    secret = spec.get("secret") or default_secret
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise WebhookSpecError(f"secret must start with 'whsec_', got {secret!r}")
    events = spec.get("events", ["*"])
    if not isinstance(events, list) or not all(e == "*" or e in EVENT_TYPES for e in events):
        raise WebhookSpecError(f"events must be a list of '*' or {list(EVENT_TYPES)}")
    ints = {
        "duplicate": (0, 10),
        "delay_ms": (0, 60_000),
        "max_attempts": (1, 10),
        "timeout_ms": (1, 60_000),
    }
    values: dict[str, int] = {}
    for name, (low, high) in ints.items():
        value = spec.get(name, Endpoint.__dataclass_fields__[name].default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise WebhookSpecError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        values[name] = value
    shuffle = spec.get("shuffle", False)
    if not isinstance(shuffle, bool):
        raise WebhookSpecError(f"shuffle must be true or false, got {shuffle!r}")
    account = spec.get("account")
    if account is not None and (not isinstance(account, str) or not account.startswith("sk_test_")):
        raise WebhookSpecError(f"account must be an sk_test_... API key, got {account!r}")
    return Endpoint(
        f"we_{secrets.token_hex(8)}",
        url,
        secret,
        events,
        shuffle=shuffle,
        account=account,
        **values,
    )


class Webhooks:
    def __init__(self, store: Store, seed: int = 0, default_secret: str = DEFAULT_SECRET) -> None:
        self.store = store
        self.default_secret = default_secret
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(seed)
        self._queues: dict[str, list[JSON]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self.emitted: list[tuple[str, set[str]]] = []
        """Each event emitted, in order: its id and the ids of the objects it is about."""
        self._wanted_by: dict[str, list[str]] = {}
        """Per event id, the endpoints it was queued for when emitted."""
        self._types: dict[str, str] = {}
        self.held_types: set[str] = set()
        """Event types whose deliveries wait for :meth:`release`."""
        self._held: list[tuple[Endpoint, JSON]] = []

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(**doc) for doc in self.store.values("endpoints")]

    def register(self, spec: dict[str, Any]) -> Endpoint:
        endpoint = parse_endpoint(spec, self.default_secret)
        self.store.put("endpoints", endpoint.id, asdict(endpoint))
        return endpoint

    def remove(self, endpoint_id: str) -> bool:
        """Forget an endpoint and drop what is still queued for it; False if unknown."""
        if self.store.get("endpoints", endpoint_id) is None:
            return False
        self.store.delete("endpoints", endpoint_id)
        self._queues.pop(endpoint_id, None)
        worker = self._workers.pop(endpoint_id, None)
        if worker is not None:
            worker.cancel()
        return True

    def emit(self, ctx: Ctx, event_type: str, obj: JSON) -> JSON:
        """Record an event and queue it for every endpoint that wants it."""
        event: JSON = {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 0,
            "type": event_type,
            "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
        }
        targets = [e for e in self.endpoints() if e.wants(event, ctx.account)]
        event["pending_webhooks"] = len(targets)
        self.store.put("events", event["id"], {"account": ctx.account, "event": event})
        about = {v for v in (obj.get("id"), obj.get("payment_intent")) if isinstance(v, str)}
        self.emitted.append((event["id"], about))
        self._wanted_by[event["id"]] = [e.id for e in targets]
        self._types[event["id"]] = event_type
        for endpoint in targets:
            self._enqueue(endpoint, event)
        return event

    def event_type(self, event_id: str) -> str:
        return self._types.get(event_id, "an event")

    def wanted(self, event_ids: list[str]) -> list[str]:
        """Those of ``event_ids`` that some endpoint wanted when they were emitted."""
        return [e for e in event_ids if self._wanted_by.get(e)]

    def undelivered(self, event_ids: list[str]) -> list[str]:
        """Those of ``event_ids`` some endpoint that wanted them (and still exists) has not
        yet answered with a 2xx."""
        live = {e.id for e in self.endpoints()}
        done = {
            (d["event_id"], d["endpoint_id"])
            for d in self.deliveries
            if d["status"] is not None and 200 <= d["status"] < 300
        }
        return [
            event_id
            for event_id in event_ids
            if any(
                (event_id, endpoint) not in done
                for endpoint in self._wanted_by.get(event_id, [])
                if endpoint in live
            )
        ]

    def hold(self, event_types: list[str]) -> None:
        """Keep events of these types out of delivery until :meth:`release`."""
        unknown = [t for t in event_types if t not in EVENT_TYPES]
        if unknown or not event_types:
            raise WebhookSpecError(f"events must be a non-empty list of {list(EVENT_TYPES)}")
        self.held_types.update(event_types)

    def release(self) -> int:
        """End every hold and queue what it kept, in emission order; return how many."""
        held, self._held = self._held, []
        self.held_types.clear()
        for endpoint, event in held:
            self._enqueue(endpoint, event)
        return len(held)

    def held(self) -> list[str]:
        """Ids of the events a hold keeps back (one per endpoint that wants it)."""
        return [event["id"] for _, event in self._held]

    def events(self) -> list[JSON]:
        """Every event emitted, oldest first (without the account it belongs to)."""
        return [row["event"] for row in self.store.values("events")]

    def resend(self, event_id: str) -> bool:
        row = self.store.get("events", event_id)
        if row is None:
            return False
        event = row["event"]
        for endpoint in self.endpoints():
            if endpoint.wants(event, row["account"]):
                self._enqueue(endpoint, event)
        return True

    def _enqueue(self, endpoint: Endpoint, event: JSON) -> None:
        if event["type"] in self.held_types:
            self._held.append((endpoint, event))
            return
        self._queues.setdefault(endpoint.id, []).append(event)
        self._start(endpoint)

    def _start(self, endpoint: Endpoint) -> None:
        worker = self._workers.get(endpoint.id)
        if worker is not None and not worker.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: flush() starts the worker later
            return
        self._workers[endpoint.id] = loop.create_task(self._work(endpoint))

    async def _work(self, endpoint: Endpoint) -> None:
        while self._queues.get(endpoint.id):
            window = max(endpoint.delay_ms, 50 if endpoint.shuffle else 0)
            if window:
                await asyncio.sleep(window / 1000)
            batch, self._queues[endpoint.id] = self._queues[endpoint.id], []
            copies = [(event, n) for event in batch for n in range(1 + endpoint.duplicate)]
            if endpoint.shuffle:
                self._rng.shuffle(copies)
            for event, n in copies:
                await self._deliver(endpoint, event, n)

    async def _deliver(self, endpoint: Endpoint, event: JSON, copy: int) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient()
        payload = json.dumps(event)
        for attempt in range(1, endpoint.max_attempts + 1):
            record: Delivery = {
                "id": f"dlv_{len(self.deliveries) + 1}",
                "event_id": event["id"],
                "event_type": event["type"],
                "endpoint_id": endpoint.id,
                "url": endpoint.url,
                "attempt": attempt,
                "copy": copy,
                "status": None,
                "error": None,
                "sent_at": time.time(),
            }
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, endpoint.secret),
                "User-Agent": "nodouble-fake-provider/webhooks",
            }
            try:
                response = await self._client.post(
                    endpoint.url,
                    content=payload,
                    headers=headers,
                    timeout=endpoint.timeout_ms / 1000,
                )
                record["status"] = response.status_code
            except httpx.HTTPError as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
            self.deliveries.append(record)
            if record["status"] is not None and 200 <= record["status"] < 300:
                return
            if attempt < endpoint.max_attempts:
                await asyncio.sleep(min(0.05 * 2 ** (attempt - 1), 2.0))

    async def flush(self, wait_seconds: float = 30.0) -> bool:
        """Wait until every queued event has been delivered (or given up on)."""
        deadline = time.monotonic() + wait_seconds
        for endpoint in self.endpoints():
            if self._queues.get(endpoint.id):
                self._start(endpoint)
        while True:
            running = [w for w in self._workers.values() if not w.done()]
            if not running:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(running, timeout=left)

    async def reset(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        self._workers.clear()
        self._queues.clear()
        self.deliveries.clear()
        self.emitted.clear()
        self._wanted_by.clear()
        self._types.clear()
        self.held_types.clear()
        self._held.clear()

    async def aclose(self) -> None:
        await self.reset()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
