"""Request limits, checked before any route runs: body size and header sanity.

- A request body larger than ``MAX_BODY_BYTES`` (64 KiB; the largest legitimate body, a
  webhook event, is a few KiB) is refused with ``413`` problem+json, whether it announces
  its size in ``Content-Length`` or streams it chunked.
- A header value holding control characters (CR, LF, NUL, ...) or a non-ASCII byte in the
  ``Idempotency-Key`` is refused with ``400`` problem+json. The HTTP parser already refuses
  most of these; this is the second line for whatever a proxy lets through.

Nothing is stored and nothing is charged for a refused request.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_app.errors import PROBLEM, problem_body

MAX_BODY_BYTES = 64 * 1024
"""Documented limit of a request body, in bytes (docs/reliability.md)."""
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_ASCII_ONLY = frozenset({b"idempotency-key"})


class BodyTooLarge(HTTPException):
    """The streamed body passed the limit (an HTTPException so every handler answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes; send a smaller one.")


class RequestLimits:
    """ASGI middleware enforcing the limits above (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_headers(scope.get("headers", []))
        if refusal is not None:
            await _send_problem(send, *refusal)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_problem(send, *self._too_large())

    def _check_headers(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, str, str] | None:
        for name, value in headers:
            lower = name.lower()
            if _CONTROL.search(value):
                return 400, "bad-header", f"Header {_safe(lower)} contains control characters."
            if lower in _ASCII_ONLY and not value.isascii():
                return 400, "bad-header", f"Header {_safe(lower)} must be printable ASCII."
            if lower == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return 400, "bad-header", "Content-Length is not a number."
                if length > self.max_body:
                    return self._too_large()
        return None

    def _too_large(self) -> tuple[int, str, str]:
        return (
            413,
            "body-too-large",
            f"The request body is larger than {self.max_body} bytes; send a smaller one.",
        )


def _safe(name: bytes) -> str:
    return name.decode("ascii", "replace")[:64]


async def _send_problem(send: Send, status: int, slug: str, detail: str) -> None:
    body: dict[str, Any] = problem_body(status, slug, detail)
    if status == 413:
        body["title"] = "Request body too large"
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
