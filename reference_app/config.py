"""Settings of the reference checkout, read from ``NODOUBLE_*`` environment variables."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reference_app import flaws as _flaws

DEV_SESSION_SECRET = "dev-only-session-secret-change-me"
FLAWS = _flaws.OFF | frozenset(_flaws.FLAWS)
"""Values accepted by ``NODOUBLE_FLAW``: empty or ``none`` (the default: no flaw), or the
name of one deliberate flaw (``reference_app/flaws.py``)."""

ENV_VARS: dict[str, str] = {
    "database_url": "NODOUBLE_DATABASE_URL",
    "provider_url": "NODOUBLE_PROVIDER_URL",
    "provider_api_key": "NODOUBLE_PROVIDER_API_KEY",
    "webhook_secret": "NODOUBLE_WEBHOOK_SECRET",
    "session_secret": "NODOUBLE_SESSION_SECRET",
    "lease_seconds": "NODOUBLE_LEASE_SECONDS",
    "key_ttl_seconds": "NODOUBLE_KEY_TTL_SECONDS",
    "flaw": "NODOUBLE_FLAW",
    "reconcile_interval_seconds": "NODOUBLE_RECONCILE_INTERVAL_SECONDS",
    "reaper_interval_seconds": "NODOUBLE_REAPER_INTERVAL_SECONDS",
    "provider_timeout_seconds": "NODOUBLE_PROVIDER_TIMEOUT_SECONDS",
    "capture_method": "NODOUBLE_CAPTURE_METHOD",
    "bench_unguarded": "NODOUBLE_BENCH_UNGUARDED",
}


class ConfigError(ValueError):
    """A setting has a bad value; the message is one line naming the variable."""


class Settings(BaseModel):
    """Everything the checkout needs to run; validated once at startup."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "sqlite:///./nodouble.sqlite3"
    provider_url: str = "http://127.0.0.1:12111"
    provider_api_key: str = "sk_test_nodouble"
    webhook_secret: str = "whsec_nodouble_dev"
    session_secret: str = DEV_SESSION_SECRET
    lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    key_ttl_seconds: float = Field(default=86400.0, gt=0)
    flaw: str = ""
    reconcile_interval_seconds: float = Field(default=10.0, ge=0)
    """0 disables the background reconciler thread (startup reconciliation still runs)."""
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    provider_max_attempts: int = Field(default=4, ge=1, le=20)
    reaper_interval_seconds: float = Field(default=3600.0, ge=0)
    """How often expired idempotency keys are removed (reference_app/reaper.py); 0: never."""
    capture_method: Literal["automatic", "manual", "automatic_only"] = "automatic"
    """How a confirm takes the money (reference_app/capture.py): ``automatic`` captures at
    once unless the confirm asks ``capture_method: manual``; ``manual`` only authorises
    unless it asks ``automatic``; ``automatic_only`` refuses manual capture."""
    bench_unguarded: bool = False
    """Benchmarks only: also serve ``reference_app/unguarded.py``'s confirm with no guard at
    all (``NODOUBLE_BENCH_UNGUARDED=1``), to measure what the guard costs."""

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql+psycopg://", "mysql+pymysql://")):
            raise ValueError("must start with sqlite://, postgresql+psycopg:// or mysql+pymysql://")
        return value

    @field_validator("provider_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("provider_api_key")
    @classmethod
    def _secret_key(cls, value: str) -> str:
        if not value.startswith("sk_"):
            raise ValueError("must be a secret key starting with sk_")
        return value

    @field_validator("webhook_secret", "session_secret")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("flaw")
    @classmethod
    def _known_flaw(cls, value: str) -> str:
        if value not in FLAWS:
            allowed = ", ".join(["none", *_flaws.names()])
            raise ValueError(f"unknown flaw; allowed: {allowed}")
        return value

    @classmethod
    def build(cls, **values: object) -> Settings:
        """Validate ``values``; raise ConfigError with one line naming the bad field."""
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None
        if settings.session_secret == DEV_SESSION_SECRET:
            logging.getLogger("reference_app").warning(
                "NODOUBLE_SESSION_SECRET is not set: using the development session secret"
            )
        return settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``NODOUBLE_*`` variables (unset ones keep their defaults)."""
        env = os.environ if environ is None else environ
        values = {field: env[var] for field, var in ENV_VARS.items() if var in env}
        return cls.build(**values)


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    name = ENV_VARS.get(field, field)
    value = error.get("input")
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name}={value!r} is invalid: {message}"
