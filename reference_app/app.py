"""``create_app``: the ASGI factory of the reference checkout (uvicorn --factory)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_app import api, db, errors, flaws, hosted_pages, migrate, unguarded
from reference_app.config import ConfigError, Settings
from reference_app.hosted import HostedCheckout
from reference_app.hosted_provider import SessionsClient
from reference_app.limits import RequestLimits
from reference_app.provider import ProviderClient
from reference_app.reaper import ReaperThread
from reference_app.reconciler import ReconcilerThread
from reference_app.service import CheckoutService

log = logging.getLogger("reference_app")
NO_STORE_PREFIXES = ("/api/", "/webhooks/", "/healthz")


class NoStore:
    """``Cache-Control: no-store`` on every API response (nothing here is cacheable)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(NO_STORE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_no_store)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: validate settings, migrate the database, wire the shared service."""
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as exc:
            print(f"reference_app: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    flaws.warn_if_active(settings)
    engine = db.make_engine(settings.database_url)
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    provider = ProviderClient(
        settings.provider_url,
        settings.provider_api_key,
        timeout=settings.provider_timeout_seconds,
        max_attempts=settings.provider_max_attempts,
        flaw=settings.flaw,
    )
    reaper = ReaperThread(sessions, settings.reaper_interval_seconds)
    hosted = HostedCheckout(
        sessions,
        SessionsClient(
            settings.provider_url,
            settings.provider_api_key,
            timeout=settings.provider_timeout_seconds,
            max_attempts=settings.provider_max_attempts,
        ),
        settings.flaw,
    )
    reconciler = ReconcilerThread(
        sessions, provider, settings.reconcile_interval_seconds, sweep=hosted.sweep
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # FLAW(no_reconcile): nothing ever settles a payment left PENDING by a crash after
        # the charge (neither at startup nor in the background).
        reconcile = not flaws.active(settings, "no_reconcile")
        if reconcile:
            reconciler.start()
        reaper.start()
        try:
            yield
        finally:
            reaper.stop()
            if reconcile:
                reconciler.stop()
            provider.close()
            hosted.close()
            engine.dispose()

    app = FastAPI(
        title="nodouble reference checkout",
        version="0.1.0",
        description="A checkout that charges each order at most once, whatever the client "
        "repeats. Confirm with an Idempotency-Key; repeats replay the stored answer.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessions
    app.state.provider = provider
    app.state.service = CheckoutService(settings, sessions, provider)
    app.state.hosted = hosted
    errors.install(app)
    app.include_router(api.router)
    if settings.bench_unguarded:
        unguarded.warn()
        app.include_router(api.bench_router)
    pages = _pages_router()
    if pages is not None:
        app.include_router(pages)
        from reference_app import threeds_pages  # the pages' 3-D Secure return page

        app.include_router(threeds_pages.router)
        app.include_router(hosted_pages.router)
    app.add_middleware(NoStore)
    app.add_middleware(RequestLimits)
    return app


def _pages_router() -> APIRouter | None:
    try:
        module = importlib.import_module("reference_app.pages")
    except ModuleNotFoundError as exc:
        if exc.name == "reference_app.pages":
            return None
        raise
    router = getattr(module, "router", None)
    return router if isinstance(router, APIRouter) else None
