"""The API driver: Jepsen's client for HTTP targets, built on httpx.

Every request is an operation: an ``invoke`` recorded just before it is sent, then a
completion classified from what came back:

- ``ok``: 2xx or 3xx (outcome ``success``);
- ``fail``: a definite refusal, any 4xx except 409 (outcome ``failed``);
- ``info``: the client cannot know whether the payment happens: 202 and 409 (outcome
  ``pending``), 5xx, timeouts and broken connections (outcome ``unknown``).

:meth:`ApiDriver.burst` releases N requests together from N threads, each with its own
connection, so the target really sees them at the same moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness._redact import redact, redact_headers, redact_text, truncate
from harness._tls import tls_context
from harness.drivers._csrf import UNSAFE, CsrfSpec, CsrfTokens
from harness.history import History, Op, OpType

Annotate = Callable[[dict[str, Any]], dict[str, Any]]
"""Reads a response summary, returns extra keys for the completion's value."""

PENDING_STATUSES = frozenset({202, 409})
"""Answers that mean "not decided yet": the payment may still happen."""


@dataclass(frozen=True)
class RequestSpec:
    """One request of a burst, as plain data."""

    f: str
    method: str
    path: str
    json: Any = None
    data: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    order_id: str | None = None
    key: str | None = None


def classify(status: int) -> tuple[OpType, str]:
    """The completion type and outcome of an HTTP status."""
    if status in PENDING_STATUSES:
        return "info", "pending"
    if status < 400:
        return "ok", "success"
    if status < 500:
        return "fail", "failed"
    return "info", "unknown"


def summarize_response(response: httpx.Response) -> dict[str, Any]:
    """``{"status", "headers", "body"}`` with JSON parsed and secrets hidden."""
    body: Any
    content_type = response.headers.get("content-type", "")
    text = response.text
    if "json" in content_type:
        try:
            body = redact(response.json())
        except ValueError:
            body = truncate(redact_text(text))
    else:
        body = truncate(redact_text(text))
    return {
        "status": response.status_code,
        "headers": redact_headers(response.headers),
        "body": body,
    }


def _replayed(response: httpx.Response) -> bool | None:
    value = response.headers.get("idempotent-replayed")
    return None if value is None else value.strip().lower() in {"true", "1", "yes"}


class ApiDriver:
    """Sends HTTP requests to ``base_url`` and records them into ``history``."""

    def __init__(
        self,
        base_url: str,
        history: History,
        *,
        process: str = "api",
        timeout: float = 10.0,
        cookies: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        key_header: str = "Idempotency-Key",
        user: str | None = None,
        csrf: CsrfSpec | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.csrf = CsrfTokens(csrf) if csrf is not None else None
        """Puts the framework's CSRF token on every unsafe request (``[session.csrf]``)."""
        self.history = history
        self.process = process
        self.timeout = timeout
        self.key_header = key_header
        self.user = user
        self._headers = dict(headers or {})
        self.client = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            cookies=dict(cookies or {}),
            headers=headers,
            verify=tls_context(),
        )
        self._burst_counter = 0
        self._counter_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ApiDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Op:
        """Send the target's login request; the session cookie stays in this driver."""
        done = self.request("login", method, path, json=json, data=data, headers=headers)
        if self.csrf is not None:
            self.csrf.forget()  # a new session usually means a new token
        return done

    def request(
        self,
        f: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        order_id: str | None = None,
        key: str | None = None,
        timeout: float | None = None,
        process: str | None = None,
        annotate: Annotate | None = None,
    ) -> Op:
        """Invoke, send and complete one request; returns the completion.

        ``annotate`` reads the response summary and returns extra keys for the completion
        (a ``read_order`` adds ``paid``, say).
        """
        spec = RequestSpec(f, method, path, json, data, dict(headers or {}), order_id, key)
        return self.send(spec, timeout=timeout, process=process, annotate=annotate)

    def send(
        self,
        spec: RequestSpec,
        *,
        timeout: float | None = None,
        process: str | None = None,
        annotate: Annotate | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op:
        """Like :meth:`request`, for a prepared :class:`RequestSpec`; ``extra`` goes into the
        invocation's value (a mark such as ``tampered`` that checkers read)."""
        request, value = self._prepare(self.client, spec, timeout)
        value.update(extra or {})
        return self._execute(self.client, process or self.process, spec.f, request, value, annotate)

    def burst(
        self,
        n: int,
        make_request: Callable[[int], RequestSpec],
        *,
        timeout: float | None = None,
        stagger_s: float = 0.0,
    ) -> list[Op]:
        """Send ``n`` requests released together by a barrier; one process per request.

        Each thread builds its request and opens its own client before the barrier, so
        after the release only the send itself remains (after ``i * stagger_s`` seconds for
        request ``i``, when staggered). Returns the completions in the order of
        ``make_request``'s index.
        """
        if n < 1:
            raise ValueError(f"a burst needs at least one request, not {n}")
        specs = [make_request(i) for i in range(n)]
        if self.csrf is not None and any(s.method.upper() in UNSAFE for s in specs):
            self.csrf.token(self.client)  # fetched (and its cookies set) before the copies below
        with self._counter_lock:
            first = self._burst_counter + 1
            self._burst_counter += n
        barrier = threading.Barrier(n)
        results: list[Op | None] = [None] * n
        errors: list[BaseException] = []

        def worker(i: int) -> None:
            try:
                with httpx.Client(
                    base_url=self.base_url,
                    timeout=self.timeout,
                    cookies=self.client.cookies,
                    headers=self._headers,
                    verify=tls_context(),
                ) as client:
                    request, value = self._prepare(client, specs[i], timeout)
                    barrier.wait(timeout=30)
                    if stagger_s:
                        time.sleep(i * stagger_s)
                    process = f"{self.process}-{first + i}"
                    results[i] = self._execute(client, process, specs[i].f, request, value)
            except BaseException as exc:  # surfaced below, never swallowed
                barrier.abort()
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError(f"burst of {n} requests broke: {errors[0]!r}") from errors[0]
        return [op for op in results if op is not None]

    def _prepare(
        self, client: httpx.Client, spec: RequestSpec, timeout: float | None
    ) -> tuple[httpx.Request, dict[str, Any]]:
        headers = dict(spec.headers)
        if (
            spec.key is not None
            and self.key_header
            and not any(name.lower() == self.key_header.lower() for name in headers)
        ):
            headers[self.key_header] = spec.key
        json: Any = spec.json
        data: Mapping[str, Any] | None = dict(spec.data) if spec.data is not None else None
        if self.csrf is not None:
            headers, json, data = self.csrf.apply(self.client, spec.method, headers, json, data)
        request = client.build_request(
            spec.method.upper(),
            spec.path,
            json=json,
            data=dict(data) if data is not None else None,
            headers=headers,
            timeout=self.timeout if timeout is None else timeout,
        )
        body = json if json is not None else data
        value: dict[str, Any] = {
            "request": {
                "method": request.method,
                "url": redact_text(str(request.url)),
                "headers": redact_headers(request.headers),
                "body": redact(dict(body) if isinstance(body, Mapping) else body),
            }
        }
        for name, item in (("order_id", spec.order_id), ("key", spec.key), ("user", self.user)):
            if item is not None:
                value[name] = item
        return request, value

    def _execute(
        self,
        client: httpx.Client,
        process: str,
        f: str,
        request: httpx.Request,
        value: dict[str, Any],
        annotate: Annotate | None = None,
    ) -> Op:
        invocation = self.history.invoke(process, f, value)
        try:
            response = client.send(request)
        except httpx.TimeoutException as exc:
            return self.history.info(invocation, _lost("timeout", exc))
        except httpx.TransportError as exc:
            result = _lost("connection error", exc)
            if isinstance(exc, httpx.ConnectError):
                result["sent"] = False  # refused before any byte left: certainly not processed
            return self.history.info(invocation, result)
        type_, outcome = classify(response.status_code)
        result = {"response": summarize_response(response), "outcome": outcome}
        replayed = _replayed(response)
        if replayed is not None:
            result["replayed"] = replayed
        if type_ == "info":
            result["error"] = f"HTTP {response.status_code}: outcome not known yet"
        if annotate is not None:
            result.update(annotate(result["response"]))
        return self.history.complete(invocation, type_, result)


def _lost(kind: str, exc: Exception) -> dict[str, Any]:
    detail = redact_text(str(exc)) or type(exc).__name__
    return {"outcome": "unknown", "error": f"{kind}: {type(exc).__name__}: {detail}"}
