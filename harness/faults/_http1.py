"""Just enough HTTP/1.1 for the fault proxy: read one request, rewrite its framing.

The proxy forwards each request on a fresh upstream connection with ``Connection: close``
and reads the answer to EOF, so it never needs to understand response bodies; it only
parses the response status line for its log.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "upgrade"})


class BadRequest(Exception):
    """The client sent something this proxy does not handle."""


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def path(self) -> str:
        return self.target

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def encode_for_upstream(self) -> bytes:
        """The request with hop-by-hop headers replaced by ``Connection: close``."""
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() not in _HOP_BY_HOP]
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """One request from the client, or ``None`` when it closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest("connection closed in the middle of a request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise BadRequest(f"request head larger than {MAX_HEAD} bytes") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"not an HTTP/1.x request line: {lines[0][:100]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"malformed header line: {line[:100]!r}")
        headers.append((name.strip(), value.strip()))
    request = HttpRequest(parts[0], parts[1], parts[2], headers, b"")
    if (request.header("transfer-encoding") or "").lower() not in {"", "identity"}:
        raise BadRequest("chunked request bodies are not supported by the fault proxy")
    length = request.header("content-length")
    if length:
        if not length.isdigit():
            raise BadRequest(f"bad Content-Length: {length!r}")
        request.body = await reader.readexactly(int(length))
    return request


def response_status(raw: bytes) -> int | None:
    """The status code of a raw HTTP response, if it has a status line."""
    first = raw.split(b"\r\n", 1)[0].split(b" ")
    if len(first) >= 2 and first[0].startswith(b"HTTP/") and first[1].isdigit():
        return int(first[1])
    return None


def force_close(raw: bytes) -> bytes:
    """The response with its ``Connection`` header set to ``close``."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return raw
    lines = [
        line
        for line in head.split(b"\r\n")
        if line.split(b":", 1)[0].strip().lower() not in {b"connection", b"keep-alive"}
    ]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + sep + body


def simple_response(status: int, reason: str, detail: str) -> bytes:
    problem = {"type": "about:blank", "title": reason, "status": status, "detail": detail}
    body = json.dumps(problem).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body
