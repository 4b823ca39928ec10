"""The request pipeline every ``/v1`` endpoint goes through.

Top to bottom: authenticate, parse the form, validate (a 400 here is never
stored), pick a fault, reserve the idempotency key, execute under the state lock,
save the response under the key, then answer (or drop, or hang, as the fault says).
The state lock is held only while state changes, never across an await.
"""

from __future__ import annotations

import asyncio
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
from fake_provider.faults import Faults
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
        self.webhooks = Webhooks(self.store, seed=config.webhook_seed)
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
        if key is not None:
            decision = self.keys.begin(account, key, fingerprint(endpoint, params))
            if decision.kind == "in_flight":
                raise _in_flight(key)
            if decision.kind == "mismatch":
                raise _mismatch(key, decision.first_endpoint, endpoint)
            if decision.kind == "replay":
                log["replayed"] = True
                assert decision.body is not None
                return _respond(decision.status, decision.body, key, replayed=True)
        try:
            if fault is not None and fault.mode == "delay":
                await asyncio.sleep(fault.delay_ms / 1000)
            status, body = self._execute(work, Ctx(account, key))
        except BaseException:
            if key is not None:
                self.keys.abandon(account, key)
            raise
        if fault is not None and fault.mode == "error_after":
            status, body = (
                fault.status,
                api_error(fault.status, "Injected error after work.").body(),
            )
        if key is not None:
            self.keys.finish(account, key, status, body)
        if fault is not None and fault.mode == "drop_after":
            return DroppedResponse()
        if fault is not None and fault.mode == "hang_after":
            await asyncio.sleep(fault.delay_ms / 1000)
        return _respond(status, body, key)

    def _execute(self, work: Work, ctx: Ctx) -> tuple[int, JSON]:
        with self.lock:
            try:
                return 200, work(ctx)
            except StripeError as exc:
                return exc.status, exc.body()


def _account(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise unauthorized(
            "You did not provide an API key. Send it as 'Authorization: Bearer sk_test_...'."
        )
    if scheme.lower() != "bearer" or not token.startswith("sk_test_") or len(token) <= 8:
        raise unauthorized("Invalid API key: the fake accepts any key starting with sk_test_.")
    return token.strip()


async def _params(request: Request) -> Params:
    try:
        if request.method == "GET":
            return parse_form(request.url.query)
        return parse_form(await request.body())
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
    if first != now:
        why = f"it was first used for {first}, not {now}"
    else:
        why = "it was first used with different parameters"
    return StripeError(
        400,
        "idempotency_error",
        f"The idempotency key {key!r} cannot be reused here: {why}. A key may only repeat "
        "the exact request it was first sent with; send a new key for a new request.",
        stored=False,
    )


def _respond(status: int, body: JSON, key: str | None, *, replayed: bool = False) -> Response:
    headers = {"Request-Id": f"req_{secrets.token_hex(8)}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=status, headers=headers)
