"""Fixtures for the fake provider's tests: one real server process, reset per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess

API_KEY = "sk_test_nodouble"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="session")
def fake_server() -> Iterator[ServerProcess]:
    """One real uvicorn process of the fake for the whole session (reset per test)."""
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as server:
        yield server


@pytest.fixture
def fake(fake_server: ServerProcess) -> Iterator[FakeProviderClient]:
    """The control client of the shared server, with state and faults wiped."""
    with FakeProviderClient(fake_server.url) as client:
        client.reset()
        yield client
        client.clear_faults()


@pytest.fixture
def api(fake: FakeProviderClient, fake_server: ServerProcess) -> Iterator[httpx.Client]:
    """A raw HTTP client for the Stripe API of the (freshly reset) shared server."""
    with httpx.Client(base_url=fake_server.url, headers=AUTH, timeout=10) as client:
        yield client


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    fail_first: int = 0
    """Answer 500 to this many deliveries before answering 200."""
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append(Received(dict(self.headers.items()), body))
                    failing = len(receiver.received) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port; ``receiver.received`` lists what arrived."""
    with Receiver() as running:
        yield running
