"""Stacks the benchmarks run against: PostgreSQL scratch databases, app and provider
processes on loopback, a logged-in shopper, and peak memory read from ``/proc``."""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import sqlalchemy as sa

from harness._databases import create_scratch_database, drop_scratch_database
from harness._process import ServerProcess
from harness.embedded import APP_FACTORY, PROVIDER_FACTORY, EmbeddedStack

CONFIRM_BODY = {"payment_method": "pm_card_visa"}
UNGUARDED_PATH = "/_bench/orders/{order_id}/confirm-unguarded"
"""reference_app/unguarded.py's route (tests/bench checks the two agree)."""


class BenchSetupError(RuntimeError):
    """A benchmark could not get what it needs (a database, a server); one line."""


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database next to ``admin_url``, dropped afterwards."""
    try:
        url, name = create_scratch_database(admin_url, "nodouble_bench")
    except Exception as exc:  # any driver error: the server is not usable
        first = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise BenchSetupError(
            f"PostgreSQL at {sa.engine.make_url(admin_url).render_as_string()} is not usable "
            f"({first}); start it or set NODOUBLE_BENCH_POSTGRES_URL"
        ) from None
    try:
        yield url
    finally:
        drop_scratch_database(admin_url, name)


def migrate(database_url: str) -> None:
    """Create the schema once, before several workers or instances start on it."""
    from reference_app import db
    from reference_app import migrate as migrations

    engine = db.make_engine(database_url)
    try:
        migrations.upgrade(engine)
    finally:
        engine.dispose()


def start_provider(workdir: Path, *, latency_ms: int | None = None) -> ServerProcess:
    """The fake provider; ``latency_ms``: how long each call that moves money takes (its
    ``NODOUBLE_FAKE_PROCESSING_MS``; ``None`` keeps the fake's default)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {} if latency_ms is None else {"NODOUBLE_FAKE_PROCESSING_MS": str(latency_ms)}
    name = "provider.log" if latency_ms is None else f"provider-{latency_ms}ms.log"
    return ServerProcess(PROVIDER_FACTORY, env=env, log_path=workdir / name).start()


def start_app(
    workdir: Path,
    database_url: str,
    provider_url: str,
    *,
    workers: int = 1,
    flaw: str | None = None,
    name: str = "app",
    extra_env: dict[str, str] | None = None,
) -> ServerProcess:
    """A reference_app process (``workers`` uvicorn workers) on an already migrated database."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = EmbeddedStack(
        workdir=workdir,
        database_url=database_url,
        provider_url=provider_url,
        flaw=flaw,
        extra_env=extra_env or {},
    ).app_env()
    return ServerProcess(
        APP_FACTORY, env=env, workers=workers, log_path=workdir / f"{name}.log"
    ).start(timeout=60)


Database = Literal["sqlite", "postgresql"]


@dataclass
class PgStack:
    """One provider and one or more app processes on one scratch database (PostgreSQL
    unless made by ``app_stack`` with ``database="sqlite"``)."""

    provider: ServerProcess
    apps: list[ServerProcess]
    database_url: str

    @property
    def app_url(self) -> str:
        return self.apps[0].url


@contextlib.contextmanager
def app_stack(
    database: Database,
    admin_url: str,
    workdir: Path,
    *,
    workers: int = 1,
    instances: int = 1,
    flaw: str | None = None,
    provider: ServerProcess | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[PgStack]:
    """A database (a scratch PostgreSQL database next to ``admin_url``, or a fresh SQLite
    file in ``workdir``), a provider (unless given) and ``instances`` app processes; all
    stopped (and the database dropped) after."""
    with contextlib.ExitStack() as stack:
        if database == "sqlite":
            workdir.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        else:
            url = stack.enter_context(scratch_database(admin_url))
        migrate(url)
        if provider is None:
            provider = start_provider(workdir)
            stack.callback(provider.stop)
        apps: list[ServerProcess] = []
        for i in range(instances):
            app = start_app(workdir, url, provider.url, workers=workers, flaw=flaw,
                            name=f"app{i}", extra_env=extra_env)  # fmt: skip
            stack.callback(app.stop)
            apps.append(app)
        yield PgStack(provider, apps, url)


pg_stack = functools.partial(app_stack, "postgresql")
"""``app_stack`` on a scratch PostgreSQL database."""


@dataclass
class Shopper:
    """A logged-in API user of the reference checkout (sync httpx, one connection pool)."""

    base_url: str
    user: str = field(default_factory=lambda: "bench-" + secrets.token_hex(4))
    timeout: float = 60.0
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=self.timeout)
        response = self.client.post("/api/session", json={"user": self.user})
        response.raise_for_status()

    @property
    def cookies(self) -> dict[str, str]:
        return dict(self.client.cookies.items())

    def create_order(self) -> str:
        response = self.client.post(
            "/api/orders", json={"items": [{"sku": "tee-black", "quantity": 1}]}
        )
        response.raise_for_status()
        order_id: str = response.json()["order_id"]
        return order_id

    def confirm(self, order_id: str, key: str) -> httpx.Response:
        return self.client.post(
            f"/api/orders/{order_id}/confirm", json=CONFIRM_BODY, headers={"Idempotency-Key": key}
        )

    def confirm_unguarded(self, order_id: str) -> httpx.Response:
        """The bench-only confirm with no guard (``NODOUBLE_BENCH_UNGUARDED``)."""
        return self.client.post(UNGUARDED_PATH.format(order_id=order_id), json=CONFIRM_BODY)

    def get_order(self, order_id: str) -> httpx.Response:
        return self.client.get(f"/api/orders/{order_id}")

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Shopper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux ``/proc``)."""
    found = [pid]
    for current in found:
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in task.read_text().split())
    return found


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of one process in MiB; NaN when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def server_peak_rss(server: ServerProcess) -> dict[str, Any]:
    """Peak RSS of a server: the largest process of its tree and the tree's sum (MiB)."""
    assert server.process is not None
    peaks = [peak_rss_mb(pid) for pid in process_tree(server.process.pid)]
    peaks = [p for p in peaks if p == p]  # drop NaN (a process that just went away)
    return {
        "max_process_mb": max(peaks, default=float("nan")),
        "total_mb": round(sum(peaks), 1),
        "processes": len(peaks),
    }
