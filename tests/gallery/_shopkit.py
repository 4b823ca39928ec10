"""Plumbing the Python gallery checkouts share, so each ``app.py`` keeps only what sets it apart.

What lives here is the same, to the byte, in every checkout that uses it:
problem+json bodies, the ``BROKEN`` check, the SQLite connection and its pragmas, row
helpers, provider calls with the shop's API key, the reconciler loop, the lifespan that
owns the httpx client, and starting uvicorn. Routes, field names, error shapes, payment
logic and broken variants stay in each app.

The checkouts run as ``python -m <name>.app`` with ``PYTHONPATH`` set to this folder
(see the ``[process]`` section of each ``<name>.toml.in``), so ``import _shopkit`` works
there just as it does for the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, TypeVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

PROBLEM_JSON = "application/problem+json"
REPLAYS_SCHEMA = """
create table if not exists replays (
    scope text not null,            -- whose key it is: the user, or '' when keys are shared
    key text not null,              -- the client's idempotency key
    digest text not null,           -- sha256 of the canonical request body
    status integer not null,
    body text not null,
    primary key (scope, key)
);
"""
"""The answers a checkout stores per client idempotency key (add it to the app's schema)."""
ProviderAnswer = tuple[int, Any] | None
"""A provider call's status and JSON body, or ``None`` when no readable answer came."""
T = TypeVar("T")

# -- answers ---------------------------------------------------------------------------------


def problem_body(status: int, title: str, detail: str) -> dict[str, Any]:
    """An RFC 9457 problem document as a dict."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def problem(status: int, title: str, detail: str) -> JSONResponse:
    """An error answered as ``application/problem+json``."""
    return JSONResponse(problem_body(status, title, detail), status, media_type=PROBLEM_JSON)


def media(status: int) -> str:
    """The media type of a stored answer: JSON for success, problem+json for errors."""
    return "application/json" if status < 400 else PROBLEM_JSON


@dataclass
class Result:
    """What paying came to: a final answer, or not final yet (the client should retry)."""

    status: int
    body: dict[str, Any]
    final: bool = True


def succeeded(answer: ProviderAnswer) -> bool:
    """The provider answered 200 with a PaymentIntent that succeeded."""
    return answer is not None and answer[0] == 200 and answer[1].get("status") == "succeeded"


def idempotency(key: str | None) -> dict[str, str]:
    """The provider's ``Idempotency-Key`` header, or none without a key."""
    return {"Idempotency-Key": key} if key else {}


# -- requests ------------------------------------------------------------------------------


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request's JSON body if it is an object, else ``None``."""
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object, ``{}`` when there is none."""
    return await json_object(request) or {}


def fingerprint(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a request body."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def bearer(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, if one is sent."""
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") or None if auth.startswith("Bearer ") else None


def set_session(response: Response, cookie: str, value: str) -> Response:
    """Set the sign-in cookie the way every gallery checkout does (HttpOnly, SameSite=lax)."""
    response.set_cookie(cookie, value, httponly=True, samesite="lax")
    return response


def state(request: Request, kind: type[T]) -> T:
    """The app's shop object, checked to be of the checkout's own type."""
    shop = request.app.state.shop
    assert isinstance(shop, kind)
    return shop


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


# -- the process ------------------------------------------------------------------------------


def read_broken(modes: Sequence[str]) -> str:
    """``BROKEN`` from the environment; exits when it names no variant of this checkout."""
    broken = os.environ.get("BROKEN", "")
    if broken not in modes:
        allowed = ", ".join(m or "(unset)" for m in modes)
        raise SystemExit(f"BROKEN={broken!r} is not one of {allowed}")
    return broken


def open_db(*schemas: str) -> sqlite3.Connection:
    """The ``SHOP_DB`` database (in memory without it): autocommit, WAL, synchronous writes."""
    db = sqlite3.connect(os.environ.get("SHOP_DB", ":memory:"), isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("pragma journal_mode = wal")
    db.execute("pragma synchronous = full")
    for schema in schemas:
        db.executescript(schema)
    return db


class HasHttp(Protocol):
    http: httpx.AsyncClient | None


def lifespan(
    shop: HasHttp,
    timeout_s: float,
    reconcile: Callable[[], Awaitable[object]] | None,
    *,
    quiet: tuple[type[BaseException], ...] = (Exception,),
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Open the shop's httpx client; run ``reconcile`` every 0.5 s (errors in ``quiet`` ignored)."""

    async def loop(step: Callable[[], Awaitable[object]]) -> None:
        while True:
            with contextlib.suppress(*quiet):
                await step()
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def span(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            shop.http = http
            task = asyncio.create_task(loop(reconcile)) if reconcile is not None else None
            yield
            if task is not None:
                task.cancel()

    return span


# -- CSRF, as frameworks demand it ---------------------------------------------------------

CSRF_STYLES = ("", "cookie", "meta", "field")


def csrf_guard(app: Starlette, style: str) -> Any:
    """``app`` refusing (403) every unsafe request without the session's CSRF token, the
    way ``SHOP_CSRF`` says: ``cookie`` (Django: cookie ``csrftoken`` echoed in
    ``X-CSRFToken``), ``meta`` (Rails: ``<meta name="csrf-token">`` of ``GET /csrf`` in
    ``X-CSRF-Token``) or ``field`` (Laravel: ``<input name="_token">`` of ``GET /csrf`` as
    the body's ``_token``). ``""``: no guard. Every GET sets the token cookie
    ``csrf_sid`` when missing; the token is the cookie's value."""
    if style not in CSRF_STYLES:
        raise SystemExit(f"SHOP_CSRF={style!r} is not one of {CSRF_STYLES}")
    if not style:
        return app
    cookie = "csrftoken" if style == "cookie" else "csrf_sid"

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request = Request(scope, receive)
        token = request.cookies.get(cookie)
        if request.method in ("GET", "HEAD"):
            fresh = token or os.urandom(16).hex()
            extra = [] if token else [(b"set-cookie", f"{cookie}={fresh}; Path=/".encode())]

            async def with_cookie(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            if request.url.path == "/csrf":
                tag = (
                    f'<meta name="csrf-token" content="{fresh}">'
                    if style == "meta"
                    else f'<form><input type="hidden" name="_token" value="{fresh}"></form>'
                )
                page = Response(f"<html><head>{tag}</head></html>", media_type="text/html")
                await page(scope, receive, with_cookie)
            else:
                await app(scope, receive, with_cookie)
            return
        body = await request.body()
        if style == "field":
            try:
                sent = json.loads(body or b"{}").get("_token")
            except (ValueError, AttributeError):
                sent = None
        else:
            sent = request.headers.get("x-csrftoken" if style == "cookie" else "x-csrf-token")
        if not token or sent != token:
            await problem(403, "CSRF token missing or wrong", "send the session's token")(
                scope, receive, send
            )
            return

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        await app(scope, replay, send)

    return guarded


def serve(app: Starlette, port_variable: str = "SHOP_PORT") -> None:
    """Serve on loopback at the port named by ``port_variable``, warnings only."""
    guarded = csrf_guard(app, os.environ.get("SHOP_CSRF", ""))
    uvicorn.run(guarded, host="127.0.0.1", port=int(os.environ[port_variable]), log_level="warning")


# -- a checkout on SQLite -------------------------------------------------------------------


@dataclass
class SqlShop:
    """The state every SQLite checkout carries, its provider calls and its reconciler.

    A subclass names its main table and key column (``TABLE``, ``KEY``), its stale pending
    rows in ``PENDING`` (one ``?``: the cutoff time), how to tell one is still pending in
    ``STILL_PENDING`` (one ``?``: its key), and drives one on in :meth:`resume`.
    """

    db: sqlite3.Connection
    provider_url: str
    api_key: str
    broken: str
    timeout_s: float
    http: httpx.AsyncClient | None = None
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    TABLE: ClassVar[str] = "orders"
    KEY: ClassVar[str] = "id"
    PENDING: ClassVar[str] = ""
    STILL_PENDING: ClassVar[str] = ""

    @classmethod
    def from_env(
        cls, modes: Sequence[str], *schemas: str, api_key: str | None = "sk_test_nodouble"
    ) -> Self:
        """Read ``BROKEN`` and the ``SHOP_*`` variables (``api_key=None``: the key is required)."""
        broken = read_broken(modes)
        return cls(
            db=open_db(*schemas),
            provider_url=os.environ["SHOP_PROVIDER_URL"].rstrip("/"),
            api_key=os.environ["SHOP_API_KEY"]
            if api_key is None
            else os.environ.get("SHOP_API_KEY", api_key),
            broken=broken,
            timeout_s=float(os.environ.get("SHOP_PROVIDER_TIMEOUT_S", "3")),
        )

    def app(self, routes: Sequence[BaseRoute], *, reconcile: bool = True, **kw: Any) -> Starlette:
        """The Starlette app of these routes, with this shop as ``app.state.shop``."""
        span = lifespan(self, self.timeout_s, self.reconcile if reconcile else None)
        app = Starlette(routes=list(routes), lifespan=span, **kw)
        app.state.shop = self
        return app

    def lock(self, key: str) -> asyncio.Lock:
        """The lock that serialises work on one order."""
        return self.locks.setdefault(key, asyncio.Lock())

    # -- rows ------------------------------------------------------------------------------

    def row(self, key: str) -> sqlite3.Row | None:
        """The row of the main table with this key."""
        return self.fetch(self.TABLE, self.KEY, key)

    def update(self, key: str, **values: Any) -> None:
        """Set ``values`` on the main table's row with this key."""
        self.change(self.TABLE, self.KEY, key, **values)

    def fetch(self, table: str, column: str, key: str) -> sqlite3.Row | None:
        """The row of ``table`` whose ``column`` is ``key``."""
        row: sqlite3.Row | None = self.db.execute(
            f"select * from {table} where {column} = ?", (key,)
        ).fetchone()
        return row

    def change(self, table: str, column: str, key: str, **values: Any) -> None:
        """Set ``values`` on the row of ``table`` whose ``column`` is ``key``."""
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.db:
            self.db.execute(
                f"update {table} set {sets} where {column} = ?", (*values.values(), key)
            )

    # -- answers stored per client key ---------------------------------------------------------

    def replay(self, scope: str, key: str) -> sqlite3.Row | None:
        """The answer stored under ``key`` for ``scope``: ``digest``, ``status``, ``body``."""
        row: sqlite3.Row | None = self.db.execute(
            "select digest, status, body from replays where scope = ? and key = ?", (scope, key)
        ).fetchone()
        return row

    def remember(
        self, scope: str, key: str, digest: str, status: int, body: str, *, or_ignore: bool
    ) -> None:
        """Store an answer; ``or_ignore=False`` lets a second answer for one key fail loudly."""
        verb = "insert or ignore" if or_ignore else "insert"
        with self.db:
            self.db.execute(
                f"{verb} into replays values (?, ?, ?, ?, ?)", (scope, key, digest, status, body)
            )

    # -- the provider ------------------------------------------------------------------------

    async def provider(self, method: str, path: str, **kwargs: Any) -> ProviderAnswer:
        """One provider call with the shop's key; ``None`` if no readable answer came."""
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        assert self.http is not None
        try:
            answer = await self.http.request(
                method, self.provider_url + path, headers=headers, **kwargs
            )
            return answer.status_code, answer.json()
        except (httpx.HTTPError, ValueError):
            return None

    async def search(self, query: str) -> list[dict[str, Any]]:
        """PaymentIntents matching a search query; none when the provider does not answer."""
        found = await self.provider("GET", "/v1/payment_intents/search", params={"query": query})
        if found is None or found[0] != 200:
            return []
        return list(found[1].get("data") or [])

    # -- the reconciler ------------------------------------------------------------------------

    async def reconcile(self, min_age_s: float = 1.0) -> None:
        """Drive every attempt pending for ``min_age_s`` or more, each under its lock."""
        rows = self.db.execute(self.PENDING, (time.time() - min_age_s,)).fetchall()
        for (key,) in rows:
            async with self.lock(key):
                if self.db.execute(self.STILL_PENDING, (key,)).fetchone() is not None:
                    await self.resume(key)

    async def resume(self, key: str) -> object:
        """Take one pending attempt as far as the provider lets it go."""
        raise NotImplementedError
