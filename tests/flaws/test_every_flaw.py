"""Every deliberate flaw, for real, against the scenarios docs/flaws.md names for it.

One ``nodouble flaws --named-only --repeat 3 --jobs 4`` run: a fresh stack per flaw (and
one for the baseline), each running only that flaw's named scenarios, four stacks at a
time (most of a flaw's time is waiting: reconcile windows, landing timeouts). The tests
then read its report and ask, per flaw, that every named scenario violated one of the
invariants named there (an unrelated failure does not do), and that the correct checkout
passed all of those scenarios without a single violation.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from harness._testing import missing
from harness.browser import find_chromium
from harness.flaws import BASELINE, CAUGHT_BY, FlawOptions, execute
from harness.reports import FlawMatrix, load_report
from reference_app import flaws as registry
from scenarios import get

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPEAT = 3
JOBS = 4


@dataclass(frozen=True)
class MatrixRun:
    matrix: FlawMatrix
    code: int
    run_dir: Path
    chromium: str | None
    """Why Chromium is missing, or None when it was found."""


def needs_browser(flaw: str) -> bool:
    return any("browser" in get(sid).needs for sid in CAUGHT_BY[flaw])


@pytest.fixture(scope="module")
def matrix_run(tmp_path_factory: pytest.TempPathFactory) -> MatrixRun:
    lookup = find_chromium()
    root = tmp_path_factory.mktemp("every-flaw")
    options = FlawOptions(repeat=REPEAT, jobs=JOBS, named_only=True, browser=lookup.found)
    code = execute(options, root, Console(quiet=True), Console(quiet=True))
    [run_dir] = list(root.glob("flaws-*"))
    matrix = load_report(run_dir / "report.json").flaw_matrix
    assert matrix is not None
    return MatrixRun(matrix, code, run_dir, None if lookup.found else lookup.explain())


def require_chromium(run: MatrixRun) -> None:
    if run.chromium is not None:
        missing("Chromium", run.chromium)  # a skip locally, a failure with CI=true


def found(matrix: FlawMatrix, flaw: str) -> str:
    lines = [f"{e.scenario} ({e.cell}): {', '.join(e.violated) or e.message}"
             for e in matrix.evidence.get(flaw, [])]  # fmt: skip
    return "; ".join(lines) or "nothing failed"


@pytest.mark.parametrize("flaw", registry.names())
def test_the_flaw_violates_its_named_invariant_in_every_named_scenario(
    flaw: str, matrix_run: MatrixRun
) -> None:
    if needs_browser(flaw):
        require_chromium(matrix_run)
    matrix = matrix_run.matrix
    named = CAUGHT_BY[flaw]
    cells = {sid: matrix.cell(flaw, sid) for sid in named}
    assert cells == dict.fromkeys(named, "caught"), (
        f"{flaw}: named {dict(named)}; cells {cells}; found: {found(matrix, flaw)}"
    )
    assert matrix.verdicts[flaw] == "caught", found(matrix, flaw)
    by_scenario = {e.scenario: e for e in matrix.evidence[flaw]}
    for sid, invariants in named.items():
        evidence = by_scenario[sid]
        assert evidence.cell == "caught"
        assert evidence.violated and set(evidence.violated) <= set(invariants), evidence
    assert set(matrix.cells[flaw]) == set(named), "ran scenarios not named for it"


@pytest.mark.parametrize("flaw", [f for f in registry.names() if registry.FLAWS[f].racy])
def test_a_racy_flaw_is_caught_in_every_repeat(flaw: str, matrix_run: MatrixRun) -> None:
    rate = matrix_run.matrix.rates[flaw]
    assert sorted(rate.scenarios) == sorted(CAUGHT_BY[flaw])
    assert (rate.caught, rate.runs) == (REPEAT, REPEAT), rate.per_scenario


def test_the_baseline_passes_every_named_scenario_with_no_violation(
    matrix_run: MatrixRun,
) -> None:
    require_chromium(matrix_run)
    union = {sid for named in CAUGHT_BY.values() for sid in named}
    baseline = matrix_run.matrix.baseline
    assert set(baseline) == union
    assert {s: v for s, v in baseline.items() if v != "passed"} == {}
    assert set(matrix_run.matrix.wall_s) == {BASELINE, *registry.names()}


def test_the_run_exits_0_and_its_junit_has_one_passing_case_per_flaw(
    matrix_run: MatrixRun,
) -> None:
    require_chromium(matrix_run)
    assert matrix_run.code == 0, {
        f: v for f, v in matrix_run.matrix.verdicts.items() if v != "caught"
    }
    suites = ET.parse(matrix_run.run_dir / "junit.xml").getroot()
    flaw_suite = next(s for s in suites if s.get("name") == "nodouble flaws")
    assert flaw_suite.get("tests") == str(len(registry.names()))
    assert flaw_suite.get("failures") == "0"
    assert 'id="flaw-matrix"' in (matrix_run.run_dir / "report.html").read_text()
