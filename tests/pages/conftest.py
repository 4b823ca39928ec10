"""Fixtures of the page tests: real processes (fake provider + checkout) and Chromium.

The two servers are started once per test session; every test creates its own order, so
tests do not see each other's charges. Provider faults are cleared after every test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness._process import ServerProcess
from harness._testing import missing
from harness.browser import LAUNCH_ARGS, find_chromium


@dataclass
class Stack:
    """The provider and the checkout, both real uvicorn processes."""

    provider: ServerProcess
    app: ServerProcess

    @property
    def url(self) -> str:
        return self.app.url

    def charges(self, order_id: str) -> int:
        summary = httpx.get(self.provider.url + "/_fake/summary", timeout=10).json()
        entry: dict[str, Any] = summary["keys"].get(order_id, {})
        return int(entry.get("charges", 0))

    def fault(self, **spec: Any) -> None:
        response = httpx.post(self.provider.url + "/_fake/faults", json=spec, timeout=10)
        assert response.status_code < 300, response.text

    def clear_faults(self) -> None:
        httpx.delete(self.provider.url + "/_fake/faults", timeout=10)

    @contextmanager
    def client(self, user: str | None = None) -> Iterator[httpx.Client]:
        """An HTTP client (no redirects followed), signed in as ``user`` if given."""
        with httpx.Client(base_url=self.url, follow_redirects=False, timeout=30) as client:
            if user is not None:
                response = client.post("/api/session", json={"user": user})
                assert response.status_code == 200, response.text
            yield client


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("pages")
    provider = ServerProcess(
        "fake_provider.app:create_app",
        health_path="/healthz",
    )
    with provider:
        app = ServerProcess(
            "reference_app.app:create_app",
            env={
                "NODOUBLE_DATABASE_URL": f"sqlite:///{work}/app.sqlite3",
                "NODOUBLE_PROVIDER_URL": provider.url,
                "NODOUBLE_SESSION_SECRET": "pages-test-" + uuid.uuid4().hex,
                "NODOUBLE_RECONCILE_INTERVAL_SECONDS": "1",
            },
        )
        with app:
            yield Stack(provider, app)


@pytest.fixture
def live(stack: Stack) -> Iterator[Stack]:
    """The stack, with provider faults cleared after the test."""
    try:
        yield stack
    finally:
        stack.clear_faults()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Chromium for one test module (Playwright's sync API allows one instance at a time,
    and other folders start their own)."""
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=lookup.executable, args=LAUNCH_ARGS, headless=True
        )
        yield browser
        browser.close()


def new_user() -> str:
    return "u" + uuid.uuid4().hex[:10]


class RequestLog:
    """Every request a page fires, so a test can say "no POST happened" (or exactly one)."""

    def __init__(self, page: Any) -> None:
        self.requests: list[Any] = []
        self.failed: list[Any] = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("requestfailed", lambda request: self.failed.append(request))

    def mark(self) -> int:
        return len(self.requests)

    def posts(self, since: int = 0, path: str = "") -> list[Any]:
        return [r for r in self.requests[since:] if r.method == "POST" and path in r.url]

    def confirm_posts(self, since: int = 0) -> list[Any]:
        return [r for r in self.posts(since) if r.url.rstrip("/").endswith("/confirm")]


@pytest.fixture
def new_context(chromium: Any, live: Stack) -> Iterator[Any]:
    """``new_context(user=..., javascript=True)``: a fresh browser context, signed in."""
    contexts: list[Any] = []

    def make(user: str | None = None, javascript: bool = True) -> Any:
        context = chromium.new_context(java_script_enabled=javascript, base_url=live.url)
        context.set_default_timeout(20_000)
        contexts.append(context)
        if user is not None:
            response = context.request.post(live.url + "/api/session", data={"user": user})
            assert response.status == 200, response.text()
        return context

    yield make
    for context in contexts:
        context.close()
