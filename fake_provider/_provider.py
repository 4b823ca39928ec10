"""The request pipeline every ``/v1`` endpoint goes through.

Top to bottom: authenticate, parse the form, validate (a 400 here is never
stored), pick a fault, reserve the idempotency key, wait (a ``delay`` fault, then the
processing time of a call that moves money), execute under the state lock, answer (or
drop, or hold, as the fault says), and only then save the response under the key and
release it. From the reservation to the release the key is *in use*: another request
with it is answered 409 ``idempotency_key_in_use``, as on Stripe. The state lock is held
only while state changes, never across an await.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from fake_provider._clock import Clock
from fake_provider._errors import StripeError, api_error, invalid, should_retry, unauthorized
from fake_provider._forms import FormError, parse_form
from fake_provider._idempotency import MAX_KEY_LENGTH, IdempotencyStore, fingerprint
from fake_provider._params import Params
from fake_provider._state import Store
from fake_provider.faults import Fault, Faults, moves_money
from fake_provider.intents import Ctx, Payments, Work
from fake_provider.ledger import Ledger, metadata_of
from fake_provider.types import JSON, FaultHit, RequestRecord
from fake_provider.webhooks import Webhooks

Prepare = Callable[[Params], Work]
DEFAULT_PROCESSING_MS = 10
"""Default processing time of a call that moves money (Stripe's confirm takes hundreds of
ms; a small default keeps a real in-use window without slowing test suites down)."""
MAX_PROCESSING_MS = 60_000
_HOLD_POLL = 0.05
"""Seconds between two looks at the connection while a ``hang_after`` fault holds."""


@dataclass
class ProviderConfig:
    state_path: str | None = None
    """SQLite file that keeps the state across restarts; ``None`` keeps it in memory."""
    key_ttl: float = 86400.0
    """Seconds an idempotency key is remembered."""
    webhook_seed: int = 0
    """Seed of the RNG that shuffles webhook deliveries."""
    webhook_secret: str = "whsec_nodouble_dev"
    """Signs deliveries to endpoints registered without a ``secret`` of their own."""
    minimum_amounts: bool = True
    """Refuse intents below Stripe's minimum charge for their currency (usd 50, gbp 30, …), as
    Stripe does; ``False`` lets any positive amount through."""
    processing_ms: int = DEFAULT_PROCESSING_MS
    """Milliseconds a call that moves money spends executing, its key in use meanwhile."""


def parse_processing_ms(raw: str, name: str = "NODOUBLE_FAKE_PROCESSING_MS") -> int:
    """A processing time in whole milliseconds, 0 to 60000; ``ValueError`` names ``name``."""
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_PROCESSING_MS:
        raise ValueError(
            f"{name} must be a whole number of milliseconds from 0 to {MAX_PROCESSING_MS}, "
            f"got {raw!r}"
        )
    return int(value)


def processing_ms_from_env() -> int:
    """``NODOUBLE_FAKE_PROCESSING_MS``, or the default; a bad value exits with one line."""
    raw = os.environ.get("NODOUBLE_FAKE_PROCESSING_MS")
    if raw is None or raw == "":
        return DEFAULT_PROCESSING_MS
    try:
        return parse_processing_ms(raw)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


class ConnectionDropped(Exception):
    """Raised in-process when a ``drop_after`` fault has no socket to close."""


class DroppedResponse(Response):
    """Close the client's connection without sending a single byte of response."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is None or not hasattr(transport, "abort"):
            raise ConnectionDropped("drop_after fault: response withheld")
        transport.abort()
        for _ in range(5):  # let the server notice the disconnect before we return
            await asyncio.sleep(0)


@dataclass
class _Call:
    """One ``/v1`` request on its way through the pipeline."""

    request: Request
    log: RequestRecord
    key: str | None
    hit: FaultHit | None = None
    """The fault firing this request caused, if any."""
    client_gone: bool = False
    """The client closed the connection before the answer was sent."""
    result: tuple[int, JSON] | None = None
    """The ``(status, body)`` its work produced, to store under the key; ``None`` until the
    work ran (a request cancelled before it stores nothing)."""

    @property
    def request_id(self) -> str:
        return self.log["request_id"]

    def said(self, effect: str, *, only_if_unsaid: bool = False) -> None:
        """Write what the fault did into its hit (a request without a fault ignores it)."""
        if self.hit is not None and not (only_if_unsaid and self.hit["effect"] is not None):
            self.hit["effect"] = effect


class Provider:
    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.store = Store(config.state_path)
        self.lock = threading.Lock()
        self.ledger = Ledger(self.store)
        self.clock = Clock()
        """The one clock of the fake: key expiry, search lag and fault hits read it."""
        self.keys = IdempotencyStore(self.store, ttl=config.key_ttl, clock=self.clock.now)
        self.faults = Faults(clock=self.clock.now)
        self.webhooks = Webhooks(
            self.store, seed=config.webhook_seed, default_secret=config.webhook_secret
        )
        self.payments = Payments(self.store, self.ledger, self.webhooks.emit)
        self.payments.minimum_amounts = config.minimum_amounts
        self.requests: deque[RequestRecord] = deque(maxlen=50_000)
        self._request_seq = 0
        """Never reset: a cursor taken before a reset still sees every later request."""

    async def reset(self) -> None:
        with self.lock:
            self.store.clear()
            self.ledger.clear()
            self.keys.clear()
            self.faults.clear()
            self.requests.clear()
            self.clock.reset()
        await self.webhooks.reset()

    async def handle(self, request: Request, prepare: Prepare) -> Response:
        method, path = request.method, request.url.path
        key = request.headers.get("idempotency-key") if method == "POST" else None
        log: RequestRecord = {
            "seq": 0,  # numbered when the request ends
            "request_id": _request_id(),
            "method": method,
            "path": path,
            "idempotency_key": key,
            "status": None,
            "replayed": False,
            "fault": None,
            "money": moves_money(method, path, None),  # refined once the body is read
            "started": time.time(),
            "duration_ms": 0.0,
            "account": None,
        }
        call = _Call(request, log, key)
        t0 = time.monotonic()
        try:
            response = await self._pipeline(call, prepare)
        except StripeError as exc:
            response = _respond(exc.status, exc.body(), key, request_id=call.request_id)
        except Exception:  # a bug in the fake must still answer in Stripe's shape
            body = api_error(500, "The fake provider failed.").body()
            response = _respond(500, body, key, request_id=call.request_id)
        if not isinstance(response, DroppedResponse) and not call.client_gone:
            log["status"] = response.status_code
        call.said(
            f"did nothing: the request was answered {response.status_code} before any work",
            only_if_unsaid=True,
        )
        log["duration_ms"] = round((time.monotonic() - t0) * 1000, 3)
        self._log(log)
        return response

    def _log(self, record: RequestRecord) -> None:
        """Append to the request log under the next ``seq`` (runs on the event loop)."""
        self._request_seq += 1
        record["seq"] = self._request_seq
        self.requests.append(record)

    def requests_after(self, after_seq: int = 0) -> list[RequestRecord]:
        return [r for r in self.requests if r["seq"] > after_seq]

    def requests_cursor(self) -> int:
        """The ``seq`` of the last logged request (0 before any): pass it as ``after_seq``."""
        return self._request_seq

    async def _pipeline(self, call: _Call, prepare: Prepare) -> Response:
        request, log, key = call.request, call.log, call.key
        method, path = request.method, request.url.path
        account = _account(request)
        log["account"] = account
        params = await _params(request)
        log["money"] = moves_money(method, path, params)
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise invalid(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters; this one has "
                f"{len(key)}.",
                param="Idempotency-Key",
            )
        work = prepare(params)
        taken = self.faults.take(
            method,
            path,
            money=log["money"],
            request_id=call.request_id,
            idempotency_key=key,
            account=account,
            metadata=self._subject_metadata(path, params, account),
        )
        fault: Fault | None = None
        if taken is not None:
            fault, call.hit = taken
            log["fault"] = f"{fault.id}:{fault.mode}"
            if fault.mode == "error_before":
                call.said(f"answered {fault.status} before any work")
                raise api_error(fault.status, f"Injected {fault.status} before any work.")
            if fault.mode == "in_flight":
                call.said("answered 409 idempotency_key_in_use before any work")
                raise _in_flight(key)
        endpoint = f"{method} {path}"
        if key is not None:
            decision = self.keys.begin(account, key, fingerprint(endpoint, params), call.request_id)
            if decision.kind == "in_flight":
                raise _in_flight(key)
            if decision.kind == "mismatch":
                raise _mismatch(key, decision.first_endpoint, endpoint)
            if decision.kind == "replay":
                log["replayed"] = True
                if call.hit is not None:
                    call.hit["replayed"] = True
                assert decision.body is not None
                return await self._answer(
                    call,
                    fault,
                    decision.status,
                    decision.body,
                    replay_of=decision.request_id or call.request_id,
                )
        # The key is in use from here until the answer is ready, a held one included.
        try:
            return await self._run(call, fault, work, account, log["money"])
        finally:
            if key is not None:
                if call.result is None:  # cancelled before any work: the key is free again
                    self.keys.abandon(account, key)
                else:
                    self.keys.finish(account, key, *call.result)

    def _subject_metadata(self, path: str, params: Params, account: str) -> dict[str, str]:
        """The metadata of the PaymentIntent a request is about, as a scoped fault reads it:
        what a create carries, or what the stored intent holds (with any the request adds)."""
        given = params.get("metadata")
        meta = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["v1", "payment_intents"]:
            row = self.store.get("intents", parts[2])
            if row is not None and row["account"] == account:
                meta = {**metadata_of(row["obj"]), **meta}
        return meta

    async def _run(
        self, call: _Call, fault: Fault | None, work: Work, account: str, money: bool
    ) -> Response:
        """Wait, execute and answer one request whose key (if any) is reserved; what the
        work produced is left in ``call.result`` for the key."""
        try:
            if fault is not None and fault.mode == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)
            if money and self.config.processing_ms:
                await asyncio.sleep(self.config.processing_ms / 1000)
        except BaseException:
            call.said("did nothing: the request was cancelled before any work")
            raise
        # From here on execution has begun: whatever happens, a response is stored under the
        # key, so a retry can never execute the work a second time.
        before = self.ledger.cursor()
        try:
            base_url = str(call.request.base_url).rstrip("/")
            status, body = self._execute(work, Ctx(account, call.key, call.request_id, base_url))
        except Exception:  # a bug in the fake, after state may have changed: store a 500
            status, body = 500, api_error(500, "The fake provider failed.").body()
        if call.hit is not None:
            call.hit["charged"] = any(
                e["kind"] == "charge" and e.get("idempotency_key") == call.key
                for e in self.ledger.entries(after_seq=before)
            )
        if fault is not None and fault.mode == "delay":
            call.said(f"delayed {fault.delay_ms} ms, then worked normally")
        if fault is not None and fault.mode == "error_after":
            status, body = (
                fault.status,
                api_error(fault.status, "Injected error after work.").body(),
            )
            call.said(f"worked then answered {fault.status}")
        call.result = (status, body)
        return await self._answer(call, fault, status, body)

    async def _answer(
        self,
        call: _Call,
        fault: Fault | None,
        status: int,
        body: JSON,
        *,
        replay_of: str | None = None,
    ) -> Response:
        """Apply a response-side fault (also to replays), then answer."""
        key, replay = call.key, replay_of is not None
        if fault is not None and replay:
            if fault.mode == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)
                call.said(f"delayed {fault.delay_ms} ms, then replayed the stored answer")
            elif fault.mode == "error_after":  # the stored record stays as it is
                body = api_error(fault.status, "Injected error after a replay.").body()
                call.said(f"answered {fault.status} instead of replaying the stored answer")
                return _respond(fault.status, body, key, request_id=call.request_id)  # not stored
        if fault is not None and fault.mode == "drop_after":
            call.said(
                "dropped the connection instead of replaying the stored answer"
                if replay
                else "worked then dropped the connection"
            )
            return DroppedResponse()
        if fault is not None and fault.mode == "hang_after":
            held, call.client_gone = await _hold(call.request, fault.delay_ms / 1000)
            what = "held the replayed answer" if replay else "worked then held the answer"
            call.said(
                f"{what} {held:.2f} s until the client closed the connection"
                if call.client_gone
                else f"{what} {held:.1f} s (the limit), then answered"
            )
        return _respond(
            status,
            body,
            key,
            request_id=call.request_id,
            replay_of=replay_of,
            stored=key is not None,
        )

    def _execute(self, work: Work, ctx: Ctx) -> tuple[int, JSON]:
        """Run ``work`` under the state lock; the result is a copy detached from live state."""
        with self.lock:
            try:
                result: JSON = work(ctx)
                status = 200
            except StripeError as exc:
                status, result = exc.status, exc.body()
            return status, json.loads(json.dumps(result))


def _account(request: Request) -> str:
    """The API key is the account: ``Bearer sk_test_…`` (SDKs) or Basic ``sk_test_…:`` (curl -u)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise unauthorized(
            "You did not provide an API key. Send it as 'Authorization: Bearer sk_test_...'."
        )
    token = token.strip()
    if scheme.lower() == "basic":
        try:
            token = base64.b64decode(token, validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            token = ""
    elif scheme.lower() != "bearer":
        token = ""
    if not token.startswith("sk_test_") or len(token) <= 8 or not token.isprintable():
        raise unauthorized("Invalid API key: the fake accepts any key starting with sk_test_.")
    return token


async def _params(request: Request) -> Params:
    try:
        if request.method == "GET":
            return parse_form(request.url.query)
        body = await request.body()
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if body and kind not in ("", "application/x-www-form-urlencoded"):
            raise invalid(
                f"Request bodies must be form-encoded (application/x-www-form-urlencoded), "
                f"as Stripe's v1 API expects; got {kind!r}."
            )
        return parse_form(body)
    except FormError as exc:
        raise invalid(f"Malformed request: {exc.message}", param=exc.param) from None


def _in_flight(key: str | None) -> StripeError:
    # Stripe's own type, code and wording: SDKs and people search for them.
    return StripeError(
        409,
        "idempotency_error",
        "There is currently another in-progress request using this Idempotent Key (that "
        "probably means you submitted twice, and the other request is still going through): "
        f"{key}. Please try again later.",
        code="idempotency_key_in_use",
        stored=False,
    )


def _mismatch(key: str, first: str | None, now: str) -> StripeError:
    # Stripe's own wording: clients and people search for it.
    if first != now:
        what = f"for the same endpoint they were first used for ({first!r} vs {now!r})"
    else:
        what = "with the same parameters they were first used with"
    return StripeError(
        400,
        "idempotency_error",
        f"Keys for idempotent requests can only be used {what}. Try using a key other than "
        f"{key!r} if you meant to execute a different request.",
        stored=False,
    )


async def _hold(request: Request, limit: float) -> tuple[float, bool]:
    """Wait until the client closes the connection or ``limit`` seconds pass.

    Returns the seconds held and whether the client went away first.
    """
    started = time.monotonic()
    while True:
        if await request.is_disconnected():
            return time.monotonic() - started, True
        left = limit - (time.monotonic() - started)
        if left <= 0:
            return limit, False
        await asyncio.sleep(min(_HOLD_POLL, left))


def _request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def _respond(
    status: int,
    body: JSON,
    key: str | None,
    *,
    request_id: str | None = None,
    replay_of: str | None = None,
    stored: bool = False,
) -> Response:
    """``stored``: this answer is saved under ``key``, so a retry would only replay it."""
    headers = {"Request-Id": request_id or _request_id()}
    retry = should_retry(status, stored=stored)
    if retry is not None:
        headers["Stripe-Should-Retry"] = retry
    if key is not None:
        headers["Idempotency-Key"] = key
    if replay_of is not None:
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = replay_of
    return JSONResponse(body, status_code=status, headers=headers)
