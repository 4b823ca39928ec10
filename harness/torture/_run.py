"""What ``nodouble torture`` does: scratch databases, one fake provider, the sections, a report."""

from __future__ import annotations

import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from harness._databases import create_scratch_database, drop_scratch_database
from harness._process import ServerProcess
from harness.torture import SECTIONS, run_torture
from harness.torture._figures import TortureReport, print_table, write

ADMIN_URLS = {
    "postgresql": (
        "NODOUBLE_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    ),
    "mariadb": ("NODOUBLE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}


class TortureSetupError(RuntimeError):
    """A database or the fake provider could not be prepared; the message says which."""


@contextmanager
def scratch_database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh database of ``kind`` for this run, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'torture.sqlite3'}"
        return
    variable, default = ADMIN_URLS[kind]
    admin_url = os.environ.get(variable, default)
    try:
        url, name = create_scratch_database(admin_url, "nodouble_torture")
    except Exception as exc:
        first = str(exc).splitlines()[0]
        raise TortureSetupError(
            f"cannot create a {kind} database via {variable}: {first}"
        ) from None
    try:
        yield url
    finally:
        drop_scratch_database(admin_url, name)


def torture(
    databases: list[str],
    sections: list[str],
    scale: str,
    report_dir: Path,
    console: Console,
) -> tuple[TortureReport, Path]:
    # A SIGTERM unwinds like Ctrl-C, so every app process and scratch database is cleaned up.
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="nodouble-torture-"))
    command = "nodouble torture " + " ".join(shlex.quote(a) for a in sys.argv[1:] if a != "torture")
    urls: dict[str, str] = {}
    with ServerProcess(
        "fake_provider.app:create_app",
        env={"NODOUBLE_FAKE_STATE": ""},
        log_path=workdir / "provider.log",
    ) as fake:
        managers = [scratch_database(kind, workdir) for kind in databases]
        try:
            for kind, manager in zip(databases, managers, strict=True):
                urls[kind] = manager.__enter__()
            report = run_torture(
                databases=urls,
                sections=sections,
                scale=scale,
                provider_url=fake.url,
                command=command,
                workdir=workdir,
                on_result=lambda r: console.print(
                    f"{r.section:<10} {r.database:<10} {r.verdict}  ({r.duration_s:.1f}s) "
                    f"{r.figures}",
                    highlight=False,
                ),
            )
        finally:
            for manager in reversed(managers[: len(urls)]):
                manager.__exit__(None, None, None)
    report.environment = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "databases": ", ".join(databases),
        "sections": ", ".join(sections),
        "workdir (logs)": str(workdir),
        "cpus": str(os.cpu_count()),
    }
    print_table(report, console)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = write(report, report_dir / stamp)
    return report, out


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(143)


def known_sections() -> list[str]:
    return list(SECTIONS)
