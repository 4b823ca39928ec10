"""Entry points for the CLI: ``serve`` (uvicorn) and ``reconcile_once``."""

from __future__ import annotations

from typing import Any

import uvicorn

from reference_app import db, migrate
from reference_app.app import create_app
from reference_app.config import Settings
from reference_app.provider import ProviderClient
from reference_app.reconciler import ReconcileReport, reconcile


def settings_with(
    database_url: str | None = None, provider_url: str | None = None, **overrides: Any
) -> Settings:
    """Environment settings with the given values on top (ConfigError names a bad one)."""
    base = Settings.from_env().model_dump()
    if database_url is not None:
        base["database_url"] = database_url
    if provider_url is not None:
        base["provider_url"] = provider_url
    base.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.build(**base)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    provider_url: str | None = None,
    *,
    log_level: str = "info",
    **overrides: Any,
) -> None:
    """Run the checkout with uvicorn until interrupted; raises ConfigError on bad settings."""
    settings = settings_with(database_url, provider_url, **overrides)
    print(
        f"nodouble reference checkout on http://{host}:{port} "
        f"(database {db.dialect_name(settings.database_url)}, "
        f"provider {settings.provider_url})",
        flush=True,
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


def reconcile_once(settings: Settings, *, ignore_leases: bool = False) -> ReconcileReport:
    """Migrate, then settle every PENDING payment once (``nodouble reference reconcile``)."""
    engine = db.make_engine(settings.database_url)
    provider = ProviderClient(
        settings.provider_url,
        settings.provider_api_key,
        timeout=settings.provider_timeout_seconds,
        max_attempts=settings.provider_max_attempts,
    )
    try:
        migrate.upgrade(engine)
        return reconcile(db.make_sessionmaker(engine), provider, ignore_leases=ignore_leases)
    finally:
        provider.close()
        engine.dispose()
