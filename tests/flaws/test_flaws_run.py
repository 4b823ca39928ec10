"""A reduced flaw matrix, for real: real stacks, real races, real Chromium."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from harness._testing import missing
from harness.browser import find_chromium
from harness.flaws import FlawOptions, execute
from harness.reports import load_report

EXPECTED = {
    "check_then_insert": "api.parallel_same_key",
    "no_provider_key": "provider.lost_response",
    "webhook_no_signature": "webhooks.forged",
    "no_button_guard": "browser.impatient_clicks_ssr",
}


@pytest.mark.slow
def test_reduced_matrix_catches_each_flaw_and_the_baseline_passes(tmp_path: Path) -> None:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())  # a skip locally, a failure with CI=true
    options = FlawOptions(
        flaws=list(EXPECTED), repeat=3, pattern=",".join(sorted(set(EXPECTED.values()))), jobs=2
    )
    code = execute(options, tmp_path, Console(quiet=True), Console(quiet=True))
    [run_dir] = list(tmp_path.glob("flaws-*"))
    report = load_report(run_dir / "report.json")
    matrix = report.flaw_matrix
    assert matrix is not None
    assert matrix.baseline == dict.fromkeys(sorted(set(EXPECTED.values())), "passed")
    for flaw, scenario in EXPECTED.items():
        assert matrix.cell(flaw, scenario) == "caught", (flaw, matrix.cells[flaw])
        assert matrix.flaw_caught(flaw)
    rate = matrix.rates["check_then_insert"]
    assert rate.runs == 3 and rate.caught == 3
    assert code == 0
    suites = ET.parse(run_dir / "junit.xml").getroot()
    flaw_suite = next(s for s in suites if s.get("name") == "nodouble flaws")
    assert flaw_suite.get("tests") == "4" and flaw_suite.get("failures") == "0"
    assert 'id="flaw-matrix"' in (run_dir / "report.html").read_text()
