"""A real passing report of many scenarios stays under 1 MB.

Not a synthetic report: ``nodouble run``'s own code path against the embedded reference
checkout, over every scenario that needs no browser (api, capture, process, provider,
webhooks: 26, race scenarios once each) and three browser scenarios (a classic page, a
single-page app, a hosted payment). The whole catalog takes minutes on a shared 2-core
machine; this subset keeps every kind of run (faults, crashes, webhooks, bursts, browser
screenshots) in about two.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from harness import _cli_run
from harness._testing import missing
from harness.browser import find_chromium
from scenarios import Scenario, select

BROWSER = ("browser.double_click_ssr", "browser.reload_success_spa", "hosted.two_tabs")
LIMIT = 1_000_000


def _chosen() -> tuple[Scenario, ...]:
    api = select("[acpw]*")
    assert {s.group for s in api} == {"api", "capture", "process", "provider", "webhooks"}
    return api + tuple(s for name in BROWSER for s in select(name))


@pytest.mark.slow
@pytest.mark.browser
def test_a_real_passing_report_of_many_scenarios_stays_under_a_megabyte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not find_chromium().found:
        missing("Chromium", find_chromium().explain())
    chosen = _chosen()
    monkeypatch.setattr(_cli_run, "select", lambda pattern, tags: chosen)
    out = io.StringIO()
    code = _cli_run.execute(
        target=None, pattern=None, tags=(), report_root=tmp_path, repeat=1, seed=1,
        browser=True, database_url=None, console=Console(file=out, width=200),
        err=Console(file=out, width=200), jobs=2, race_repeat=1,
    )  # fmt: skip
    assert code == 0, out.getvalue()[-2000:]
    run_dir = (tmp_path / "latest").resolve()
    report = json.loads((run_dir / "report.json").read_text())
    assert len(report["runs"]) == len(chosen) >= 29
    assert {r["status"] for r in report["runs"]} == {"passed"}
    assert any(r["screenshots"] for r in report["runs"])  # the browser runs took some
    size = (run_dir / "report.html").stat().st_size
    print(f"report.html: {size} bytes for {len(chosen)} passing runs")
    assert size < LIMIT, f"report.html is {size} bytes"
    # room for the whole catalog: a passing run costs well under 1 MB / 72 runs
    assert size / len(chosen) < LIMIT / 72
