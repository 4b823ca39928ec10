"""Verdict tables of the gallery: one row per (variant, scenarios), all rows run at once.

A row says what ``nodouble run`` must answer for one variant of a checkout and one
``--scenario`` glob: the exit code, and for a broken variant the money invariant that must
be judged ``valid: false`` in at least one scenario run. :func:`start_rows` runs every row
of a table in its own thread (each with its own fake provider, checkout process and
``nodouble`` process, see :func:`_gallery.run_variant`): most of a run is waiting on
sleeps, slow providers and browsers, so a table costs about as long as its slowest row.

:func:`need` is how a gallery test asks for a tool it cannot run without (node, npm,
Chromium): a skip on a developer's machine, a failure with ``CI=true``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from _gallery import RunResult, Variant, run_variant


@dataclass(frozen=True)
class Row:
    variant: str
    """``""`` for the correct checkout, else the name of its bug (its ``BROKEN`` value)."""
    scenarios: str
    """The ``--scenario`` glob."""
    code: int
    """The exit code ``nodouble run`` must give."""
    violated: str | None = None
    """The money invariant a broken variant must violate in at least one scenario run."""
    why: str = ""
    """How this variant costs money in these scenarios (shown when the row fails)."""
    args: tuple[str, ...] = ()
    """More ``nodouble run`` options (``--race-repeat 1``, say)."""

    @property
    def id(self) -> str:
        return f"{self.variant or 'correct'}-{self.scenarios}"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need(ok: bool, what: str) -> None:
    """Skip (locally) or fail (``CI=true``) when a tool the test needs is missing."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing tool fails the gallery, it never skips)")
    pytest.skip(what)


def selected(request: pytest.FixtureRequest, rows: Sequence[Row]) -> list[Row]:
    """The rows of ``rows`` whose test this session will run (all of them, unless ``-k``)."""
    chosen = {
        item.callspec.params.get("row")
        for item in request.session.items
        if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
    }
    return [row for row in rows if row in chosen] or list(rows)


def start_rows(
    rows: Sequence[Row], template: Path, workdir: Path, *, browser: bool = False
) -> dict[Row, Future[RunResult]]:
    """Start every row now, each in its own thread; the futures hold the results."""
    pool = ThreadPoolExecutor(max_workers=len(rows), thread_name_prefix="gallery-row")
    futures: dict[Row, Future[RunResult]] = {}
    for index, row in enumerate(rows):
        folder = workdir / f"{index:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', row.id)}"
        futures[row] = pool.submit(
            run_variant, Variant(template, row.variant), folder, scenarios=(row.scenarios,),
            browser=browser, extra_args=row.args,
        )  # fmt: skip
    pool.shutdown(wait=False)
    return futures


def assert_row(row: Row, result: RunResult) -> None:
    """The verdict of one row: exit code, evidence in report.json, no fault that never fired."""
    detail = f"{row.id}: {row.why}\n{result.summary()}"
    assert result.report is not None, f"no report.json\n{detail}"
    statuses = result.statuses()
    ran = {case: status for case, status in statuses.items() if status != "not_applicable"}
    assert ran, f"every scenario was not applicable\n{detail}"
    assert result.code == row.code, f"exit {result.code}, expected {row.code}\n{detail}"
    unfired = result.unfired_faults()
    assert not unfired, f"passed on faults that never fired: {unfired}\n{detail}"
    if row.code == 0:
        assert all(status == "passed" for status in ran.values()), detail
    if row.violated is not None:
        caught = [case for case, names in result.violated().items() if row.violated in names]
        assert caught, f"{row.violated} was never judged false\n{detail}"
        assert all(statuses[case] != "passed" for case in caught), detail
