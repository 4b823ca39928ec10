"""The request pipeline every ``/v1`` endpoint goes through.

Top to bottom: authenticate, parse the form, validate (a 400 here is never
stored), pick a fault, reserve the idempotency key, execute under the state lock,
save the response under the key, then answer (or drop, or hang, as the fault says).
The state lock is held only while state changes, never across an await.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from fake_provider._errors import StripeError, api_error, invalid, unauthorized
from fake_provider._forms import FormError, parse_form
from fake_provider._idempotency import MAX_KEY_LENGTH, IdempotencyStore, fingerprint
from fake_provider._params import Params
from fake_provider._state import Store
from fake_provider.faults import Fault, Faults
from fake_provider.intents import Ctx, Payments, Work
from fake_provider.ledger import Ledger
from fake_provider.types import JSON, RequestRecord
from fake_provider.webhooks import Webhooks

Prepare = Callable[[Params], Work]


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


class Provider:
    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.store = Store(config.state_path)
        self.lock = threading.Lock()
        self.ledger = Ledger(self.store)
        self.keys = IdempotencyStore(self.store, ttl=config.key_ttl)
        self.faults = Faults()
        self.webhooks = Webhooks(
            self.store, seed=config.webhook_seed, default_secret=config.webhook_secret
        )
        self.payments = Payments(self.store, self.ledger, self.webhooks.emit)
        self.requests: deque[RequestRecord] = deque(maxlen=50_000)

    async def reset(self) -> None:
        with self.lock:
            self.store.clear()
            self.ledger.clear()
            self.keys.clear()
            self.faults.clear()
            self.requests.clear()
        await self.webhooks.reset()

    async def handle(self, request: Request, prepare: Prepare) -> Response:
        method, path = request.method, request.url.path
        key = request.headers.get("idempotency-key") if method == "POST" else None
        log: RequestRecord = {
            "method": method,
            "path": path,
            "idempotency_key": key,
            "status": None,
            "replayed": False,
            "fault": None,
            "started": time.time(),
            "duration_ms": 0.0,
            "account": None,
        }
        t0 = time.monotonic()
        try:
            response = await self._pipeline(request, prepare, log, key)
        except StripeError as exc:
            response = _respond(exc.status, exc.body(), key)
        except Exception:  # a bug in the fake must still answer in Stripe's shape
            response = _respond(500, api_error(500, "The fake provider failed.").body(), key)
        if not isinstance(response, DroppedResponse):
            log["status"] = response.status_code
        log["duration_ms"] = round((time.monotonic() - t0) * 1000, 3)
        self.requests.append(log)
        return response

    async def _pipeline(
        self, request: Request, prepare: Prepare, log: RequestRecord, key: str | None
    ) -> Response:
        account = _account(request)
        log["account"] = account
        params = await _params(request)
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise invalid(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters; this one has "
                f"{len(key)}.",
                param="Idempotency-Key",
            )
        work = prepare(params)
        fault = self.faults.take(request.method, request.url.path)
        if fault is not None:
            log["fault"] = f"{fault.id}:{fault.mode}"
            if fault.mode == "error_before":
                raise api_error(fault.status, f"Injected {fault.status} before any work.")
            if fault.mode == "in_flight":
                raise _in_flight(key)
        endpoint = f"{request.method} {request.url.path}"
        request_id = _request_id()
        if key is not None:
            decision = self.keys.begin(account, key, fingerprint(endpoint, params), request_id)
            if decision.kind == "in_flight":
                raise _in_flight(key)
            if decision.kind == "mismatch":
                raise _mismatch(key, decision.first_endpoint, endpoint)
            if decision.kind == "replay":
                log["replayed"] = True
                assert decision.body is not None
                return await self._answer(
                    fault,
                    decision.status,
                    decision.body,
                    key,
                    replay_of=decision.request_id or request_id,
                )
        try:
            if fault is not None and fault.mode == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)
        except BaseException:  # cancelled before any work: the key is free again
            if key is not None:
                self.keys.abandon(account, key)
            raise
        # From here on execution has begun: whatever happens, a response is stored under the
        # key, so a retry can never execute the work a second time.
        try:
            status, body = self._execute(work, Ctx(account, key, request_id))
        except Exception:  # a bug in the fake, after state may have changed: store a 500
            status, body = 500, api_error(500, "The fake provider failed.").body()
        if fault is not None and fault.mode == "error_after":
            status, body = (
                fault.status,
                api_error(fault.status, "Injected error after work.").body(),
            )
        if key is not None:
            self.keys.finish(account, key, status, body)
        return await self._answer(fault, status, body, key, request_id=request_id)

    async def _answer(
        self,
        fault: Fault | None,
        status: int,
        body: JSON,
        key: str | None,
        *,
        request_id: str | None = None,
        replay_of: str | None = None,
    ) -> Response:
        """Apply a response-side fault (also to replays), then answer."""
        if fault is not None and replay_of is not None:
            if fault.mode == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)
            elif fault.mode == "error_after":  # the stored record stays as it is
                body = api_error(fault.status, "Injected error after a replay.").body()
                return _respond(fault.status, body, key, request_id=request_id)
        if fault is not None and fault.mode == "drop_after":
            return DroppedResponse()
        if fault is not None and fault.mode == "hang_after":
            await asyncio.sleep(fault.delay_ms / 1000)
        return _respond(status, body, key, request_id=request_id, replay_of=replay_of)

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
    return StripeError(
        409,
        "invalid_request_error",
        f"A request with the idempotency key {key!r} is still being processed. Retry later.",
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


def _request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def _respond(
    status: int,
    body: JSON,
    key: str | None,
    *,
    request_id: str | None = None,
    replay_of: str | None = None,
) -> Response:
    headers = {"Request-Id": request_id or _request_id()}
    if key is not None:
        headers["Idempotency-Key"] = key
    if replay_of is not None:
        headers["Idempotent-Replayed"] = "true"
        headers["Original-Request"] = replay_of
    return JSONResponse(body, status_code=status, headers=headers)
