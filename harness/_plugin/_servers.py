"""The processes behind the ``fake_provider`` and ``reference_app`` fixtures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fake_provider.client import FakeProviderClient
from harness._process import ServerProcess
from harness.embedded import API_KEY, PROVIDER_FACTORY, WEBHOOK_SECRET, EmbeddedStack

FAST_RECONCILE = {"NODOUBLE_RECONCILE_INTERVAL_SECONDS": "1", "NODOUBLE_LEASE_SECONDS": "3"}
"""What ``open_target`` gives the embedded app: unknown payments are settled within ~1 s."""


@dataclass
class FakeProvider:
    """A running fake provider: its URL and a client for its ``/_fake`` control API."""

    url: str
    client: FakeProviderClient
    api_key: str = API_KEY
    server: ServerProcess | None = None

    def stop(self) -> None:
        self.client.close()
        if self.server is not None:
            self.server.stop()


@dataclass
class ReferenceApp:
    """A running reference_app (SQLite) wired to the session's fake provider."""

    url: str
    provider_url: str
    stack: EmbeddedStack
    webhook_secret: str = WEBHOOK_SECRET

    def stop(self) -> None:
        self.stack.stop()


def start_fake_provider(workdir: Path) -> FakeProvider:
    workdir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(
        PROVIDER_FACTORY,
        env={"NODOUBLE_FAKE_STATE": ""},
        log_path=workdir / "provider.log",
    ).start()
    return FakeProvider(server.url, FakeProviderClient(server.url), server=server)


def start_reference_app(workdir: Path, provider_url: str) -> ReferenceApp:
    stack = EmbeddedStack(
        workdir=workdir, provider_url=provider_url, extra_env=dict(FAST_RECONCILE)
    ).start()
    return ReferenceApp(stack.app_url, provider_url, stack)
