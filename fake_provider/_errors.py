"""Stripe-shaped API errors: ``{"error": {"type", "code", "message", "param", ...}}``."""

from __future__ import annotations

from typing import Any

from fake_provider.types import JSON


class StripeError(Exception):
    """An error the fake answers with, in the shape Stripe's SDKs parse."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
        stored: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}
        self.stored = stored
        """False for errors raised before execution began (validation): never replayed."""

    def body(self) -> JSON:
        error: JSON = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 for input that fails validation; such requests are never stored under a key."""
    return StripeError(400, "invalid_request_error", message, code=code, param=param, stored=False)


def missing_param(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def unknown_param(param: str) -> StripeError:
    return invalid(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def not_found(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def unexpected_state(message: str, extra: dict[str, Any] | None = None) -> StripeError:
    return StripeError(
        400,
        "invalid_request_error",
        message,
        code="payment_intent_unexpected_state",
        extra=extra,
    )


def unauthorized(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message, stored=False)


def api_error(status: int, message: str) -> StripeError:
    """A server-side failure (injected by a fault)."""
    kind = "invalid_request_error" if status == 429 else "api_error"
    code = "rate_limit" if status == 429 else None
    return StripeError(status, kind, message, code=code)


def should_retry(status: int, *, stored: bool) -> str | None:
    """The ``Stripe-Should-Retry`` header for an answer, or ``None`` to send none.

    Stripe's SDKs obey it before their own rules: "true" where a retry can succeed (a
    409 for a key still in use or a lock timeout, a server error that saved nothing),
    "false" where it cannot (client errors such as declines, and a 5xx saved under the
    idempotency key, which a retry would only replay). Successes and 429s get none.
    """
    if status < 400 or status == 429:
        return None
    if status == 409:
        return "true"
    if status >= 500:
        return "false" if stored else "true"
    return "false"
