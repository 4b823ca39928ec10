"""``application/problem+json`` (RFC 9457) errors and the handlers that produce them."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"
TYPE_BASE = "https://nodouble.dev/problems/"
log = logging.getLogger("reference_app")

_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    402: "Payment declined",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Unprocessable request",
    500: "Internal error",
    503: "Service unavailable",
}


def problem_body(status: int, slug: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": TYPE_BASE + slug,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }


class ProblemError(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self, status: int, slug: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    status: int, slug: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, slug, detail, **extra),
        status_code=status,
        headers=headers,
        media_type=PROBLEM,
    )


def install(app: FastAPI) -> None:
    """Every error leaves as problem+json; no stack trace ever reaches the client."""

    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.slug, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "")
        return problem_response(exc.status_code, slug, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg"))}
            for error in exc.errors()
        ]
        if any(error.get("type") == "json_invalid" for error in exc.errors()):
            return problem_response(
                400, "malformed-json", "The request body is not valid JSON.", errors=errors
            )
        return problem_response(
            422,
            "validation",
            "The request does not match the schema; see errors for each field.",
            errors=errors,
        )

    @app.exception_handler(DBAPIError)
    async def _database(_request: Request, exc: DBAPIError) -> JSONResponse:
        if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
            log.warning("database unavailable: %s", str(exc).splitlines()[0])
            return problem_response(
                503,
                "database-unavailable",
                "The database is briefly unavailable; nothing was lost. Retry the same "
                "request (same Idempotency-Key) after Retry-After seconds.",
                {"Retry-After": "1"},
            )
        log.exception("unhandled database error", exc_info=exc)
        return problem_response(
            500, "internal", "Something went wrong on our side; it is safe to retry."
        )

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            500, "internal", "Something went wrong on our side; it is safe to retry."
        )


__all__ = ["HTTPException", "ProblemError", "install", "problem_body", "problem_response"]
