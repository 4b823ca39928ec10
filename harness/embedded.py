"""The embedded default target: reference_app plus the fake provider, on free ports.

``nodouble run`` with no ``--target``, ``nodouble serve``, the pytest plugin and the
benchmarks all start the same stack through this module: a fake provider process and a
reference_app process on a SQLite file (or any database URL), wired to each other.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness._process import ServerProcess, free_port

PROVIDER_FACTORY = "fake_provider.app:create_app"
APP_FACTORY = "reference_app.app:create_app"
API_KEY = "sk_test_nodouble"
WEBHOOK_SECRET = "whsec_nodouble_dev"


@dataclass
class EmbeddedStack:
    """A running (or ready to run) reference_app and fake provider pair."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nodouble-")))
    database_url: str | None = None
    provider_url: str | None = None
    """An already running provider; when ``None`` one is started."""
    host: str = "127.0.0.1"
    app_port: int = 0
    provider_port: int = 0
    flaw: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    provider: ServerProcess | None = None
    app: ServerProcess | None = None

    @property
    def app_url(self) -> str:
        assert self.app is not None, "stack not started"
        return self.app.url

    def app_env(self) -> dict[str, str]:
        database_url = self.database_url or f"sqlite:///{self.workdir / 'reference.sqlite3'}"
        env = {
            "NODOUBLE_DATABASE_URL": database_url,
            "NODOUBLE_PROVIDER_URL": self.provider_url or "",
            "NODOUBLE_PROVIDER_API_KEY": API_KEY,
            "NODOUBLE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "NODOUBLE_SESSION_SECRET": "nodouble-embedded-session-secret",
            **self.extra_env,
        }
        if self.flaw:
            env["NODOUBLE_FLAW"] = self.flaw
        return env

    def start(self) -> EmbeddedStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.provider_url is None:
            self.provider = ServerProcess(
                PROVIDER_FACTORY,
                host=self.host,
                port=self.provider_port,
                health_path="/healthz",
                log_path=self.workdir / "provider.log",
            ).start()
            self.provider_url = self.provider.url
        self.app = ServerProcess(
            APP_FACTORY,
            env=self.app_env(),
            host=self.host,
            port=self.app_port or free_port(self.host),
            health_path="/healthz",
            log_path=self.workdir / "app.log",
        ).start()
        return self

    def restart_app(self) -> None:
        assert self.app is not None
        self.app.stop()
        self.app.process = None
        self.app.start()

    def stop(self) -> None:
        for server in (self.app, self.provider):
            if server is not None:
                server.stop()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
