"""The network fault proxy: a nemesis between the client and the checkout.

Point the drivers at :meth:`FaultProxy.start`'s URL instead of the checkout. Every request
is passed through to the upstream unless a rule matches it (method + path regex, for the
next ``count`` matching requests):

- ``drop_response``: forward the request, read the checkout's full answer, then close the
  client's connection without a byte: the checkout did the work, the client sees a
  connection error (the classic "was I charged?" moment);
- ``delay_response``: forward, then hold the answer for ``delay_ms``;
- ``duplicate_request``: deliver the request to the checkout twice at the same moment and
  return the first answer (a retrying middlebox, a duplicated packet).

The proxy runs its own asyncio loop in a thread and keeps a log of what it did to each
request. Each client connection carries one request (answers say ``Connection: close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from harness.faults._http1 import (
    MAX_HEAD,
    BadRequest,
    HttpRequest,
    force_close,
    read_request,
    response_status,
    simple_response,
)
from harness.faults._record import NEMESIS, record
from harness.history import History, Op

Action = Literal["drop_response", "delay_response", "duplicate_request"]
ACTIONS: frozenset[str] = frozenset({"drop_response", "delay_response", "duplicate_request"})


@dataclass
class ProxyRule:
    """Apply ``action`` to the next ``count`` requests whose method and path match."""

    action: Action
    method: str | None = None
    """``None`` matches any method."""
    path: str = ".*"
    """A regex searched in the request target (path and query)."""
    count: int | None = 1
    """How many requests to hit; ``None`` means until cleared."""
    delay_ms: float = 0
    hits: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown proxy action {self.action!r}; expected {sorted(ACTIONS)}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count must be at least 1 (or None), not {self.count}")
        self._regex = re.compile(self.path)

    def matches(self, request: HttpRequest) -> bool:
        if self.count is not None and self.hits >= self.count:
            return False
        if self.method is not None and self.method.upper() != request.method.upper():
            return False
        return self._regex.search(request.target) is not None


@dataclass
class FaultProxy:
    """An HTTP/1.1 proxy to ``upstream`` (``http://host:port``) with fault rules."""

    upstream: str
    history: History | None = None
    host: str = "127.0.0.1"
    port: int = 0
    process: str = NEMESIS
    upstream_timeout: float = 60.0
    log: list[dict[str, Any]] = field(default_factory=list)
    rules: list[ProxyRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, not {self.upstream!r}")
        self._up_host, self._up_port = parts.hostname, parts.port or 80
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._started = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle (called from the test's thread) ------------------------------------

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        future.result(10)
        return self.url

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rules ----------------------------------------------------------------------

    def add_rule(self, rule: ProxyRule) -> Op | None:
        value = {
            "fault": "proxy",
            "action": rule.action,
            "method": rule.method,
            "path": rule.path,
            "count": rule.count,
            "delay_ms": rule.delay_ms,
        }

        def install() -> dict[str, Any]:
            with self._lock:
                self.rules.append(rule)
            return {}

        return record(self.history, self.process, "start_fault", value, install)

    def drop_response(self, method: str | None, path: str, count: int | None = 1) -> Op | None:
        return self.add_rule(ProxyRule("drop_response", method, path, count))

    def delay_response(
        self, delay_ms: float, method: str | None, path: str, count: int | None = 1
    ) -> Op | None:
        return self.add_rule(ProxyRule("delay_response", method, path, count, delay_ms))

    def duplicate_request(self, method: str | None, path: str, count: int | None = 1) -> Op | None:
        return self.add_rule(ProxyRule("duplicate_request", method, path, count))

    def clear(self) -> Op | None:
        def remove() -> dict[str, Any]:
            with self._lock:
                removed = len(self.rules)
                self.rules.clear()
            return {"removed": removed}

        return record(self.history, self.process, "stop_fault", {"fault": "proxy"}, remove)

    def _take_rule(self, request: HttpRequest) -> ProxyRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(request):
                    rule.hits += 1
                    return rule
        return None

    # -- the loop's side ------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
            if request is not None:
                await self._serve(request, writer)
        except BadRequest as exc:
            writer.write(simple_response(400, "Bad Request", str(exc)))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

    async def _serve(self, request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        rule = self._take_rule(request)
        action = rule.action if rule is not None else "pass"
        entry: dict[str, Any] = {
            "at_s": round(time.monotonic() - self._started, 6),
            "method": request.method,
            "path": request.target,
            "action": action,
        }
        copies = 2 if action == "duplicate_request" else 1
        results = await asyncio.gather(*(self._forward(request) for _ in range(copies)))
        answers = [raw for raw in results if isinstance(raw, bytes)]
        entry["upstream_statuses"] = [
            response_status(raw) if isinstance(raw, bytes) else None for raw in results
        ]
        errors = [r for r in results if isinstance(r, str)]
        if errors:
            entry["upstream_error"] = errors[0]
        if action == "drop_response":
            entry["client_status"] = None
            self._log(entry)
            writer.transport.abort()  # reset, not a polite close: nothing at all reaches it
            return
        if rule is not None and action == "delay_response":
            await asyncio.sleep(rule.delay_ms / 1000)
        if answers:
            raw = force_close(answers[0])
        else:
            raw = simple_response(502, "Bad Gateway", f"upstream {self.upstream}: {errors[0]}")
        entry["client_status"] = response_status(raw)
        self._log(entry)
        writer.write(raw)

    async def _forward(self, request: HttpRequest) -> bytes | str:
        """The upstream's raw answer, or an error text."""
        try:
            async with asyncio.timeout(self.upstream_timeout):
                reader, writer = await asyncio.open_connection(self._up_host, self._up_port)
                try:
                    writer.write(request.encode_for_upstream())
                    await writer.drain()
                    raw = await reader.read()
                finally:
                    writer.close()
        except TimeoutError:
            return f"no answer within {self.upstream_timeout}s"
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        return raw if raw else "upstream closed the connection without an answer"

    def _log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(entry)
