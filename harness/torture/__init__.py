"""``nodouble torture``: what the reference checkout survives, with figures.

Vocabulary (the harness's Jepsen words, at a larger grain):

- a *section* is one family of faults (crash, database, provider, webhooks, fuzz, access,
  lifecycle), one module here, run against real processes and a real database;
- its *figures* are counts (crashes injected, orders paid with exactly one charge, double
  charges, lost payments, ...), its *expectations* are the invariants it checked;
- its *verdict* is ``held``, ``broken`` (with the first failing evidence) or ``unknown``
  (the section itself crashed: never counted as held).

``run_torture`` runs the chosen sections on the chosen databases and returns the report;
``_figures.write`` turns it into ``torture.json``, ``torture.md``, ``torture.html`` and
``junit.xml``.
"""

from __future__ import annotations

import importlib
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.torture._figures import SectionResult, TortureReport
from harness.torture._stack import SCALES, Context

ALL_DATABASES = frozenset({"postgresql", "mariadb", "sqlite"})


@dataclass(frozen=True)
class Section:
    name: str
    module: str
    databases: frozenset[str]
    """Databases the section applies to; elsewhere it is reported as not applicable."""
    summary: str


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("crash", "crash", ALL_DATABASES, "SIGKILL at each recovery point, restart"),
        Section(
            "database",
            "database",
            frozenset({"postgresql", "mariadb"}),
            "backends terminated mid-transaction; deadlocks",
        ),
        Section("provider", "provider", ALL_DATABASES, "every fault mode on every endpoint"),
        Section("webhooks", "webhooks", ALL_DATABASES, "3x shuffled deliveries, forged, stale"),
        Section("fuzz", "fuzz", ALL_DATABASES, "schemathesis, form parser, bad input"),
        Section("access", "access", ALL_DATABASES, "two users, CSRF, cookies, tampering"),
        Section("lifecycle", "lifecycle", ALL_DATABASES, "key expiry, reaper, replay"),
    )
}


def section_runner(name: str) -> Callable[[Context], SectionResult]:
    module = importlib.import_module(f"harness.torture.{SECTIONS[name].module}")
    runner: Callable[[Context], SectionResult] = module.run
    return runner


def run_section(section: str, ctx: Context) -> SectionResult:
    """Run one section; a crash inside it becomes an ``unknown`` verdict with the error."""
    spec = SECTIONS[section]
    if ctx.database not in spec.databases:
        return SectionResult(section, ctx.database, spec.summary, applicable=False)
    started = time.monotonic()
    try:
        result = section_runner(section)(ctx)
    except Exception as exc:
        result = SectionResult(section, ctx.database, spec.summary)
        tail = traceback.format_exc().strip().splitlines()[-6:]
        result.error = f"{type(exc).__name__}: {exc} | " + " / ".join(tail)
    finally:
        ctx.close()
    result.title = result.title or spec.summary
    result.duration_s = time.monotonic() - started
    return result


def run_torture(
    *,
    databases: dict[str, str],
    sections: Iterable[str],
    scale: str,
    provider_url: str,
    command: str,
    workdir: Path | None = None,
    on_result: Callable[[SectionResult], None] | None = None,
) -> TortureReport:
    """Run ``sections`` on each database (kind -> SQLAlchemy URL) against one fake provider."""
    report = TortureReport(command=command, scale=scale)
    base = workdir or Path(tempfile.mkdtemp(prefix="nodouble-torture-"))
    for database, url in databases.items():
        for section in sections:
            folder = base / f"{database}-{section}"
            folder.mkdir(parents=True, exist_ok=True)
            ctx = Context(database, url, SCALES[scale], folder, provider_url)
            result = run_section(section, ctx)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    return report


__all__ = ["SECTIONS", "SectionResult", "TortureReport", "run_section", "run_torture"]
