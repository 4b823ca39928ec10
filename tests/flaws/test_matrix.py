"""The flaw matrix's verdicts, on hand-written runs (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from harness.flaws import BASELINE, FlawOptions, build_matrix, execute
from harness.reports import ScenarioRun, to_html, to_xml
from harness.reports._model import CheckOutcome


def run(sid: str, status: str, repeat: int = 0) -> ScenarioRun:
    checks = []
    if status == "failed":
        checks = [CheckOutcome(name="at_most_one_charge", valid=False, message="2 charges")]
    return ScenarioRun(
        scenario_id=sid, title=sid, threat_id="race-conditions", status=status,  # type: ignore[arg-type]
        repeat=repeat, checks=checks,
    )  # fmt: skip


SCENARIOS = ["api.a", "api.race"]


def matrix_for(race_results: list[str], baseline: str = "passed") -> object:
    racy = [run("api.a", "passed")] + [
        run("api.race", status, i) for i, status in enumerate(race_results)
    ]
    results = {
        BASELINE: [run("api.a", baseline), run("api.race", "passed")],
        "no_prg": [run("api.a", "failed"), run("api.race", "passed")],
        "check_then_insert": racy,
    }
    return build_matrix(
        results, ["no_prg", "check_then_insert"], SCENARIOS, wall={}, command="test"
    )


def test_caught_everywhere_passes_the_gate() -> None:
    matrix = matrix_for(["failed"] * 20)
    assert matrix.gate()  # type: ignore[attr-defined]
    assert matrix.caught_by("no_prg") == ["api.a"]  # type: ignore[attr-defined]
    rate = matrix.rates["check_then_insert"]  # type: ignore[attr-defined]
    assert (rate.caught, rate.runs, rate.scenarios) == (20, 20, ["api.race"])
    assert "no_prg" not in matrix.rates  # type: ignore[attr-defined]


def test_a_racy_flaw_caught_18_of_20_fails_the_gate() -> None:
    matrix = matrix_for(["failed"] * 18 + ["passed"] * 2)
    assert not matrix.gate()  # type: ignore[attr-defined]
    assert matrix.caught_by("check_then_insert") == ["api.race"]  # type: ignore[attr-defined]
    assert not matrix.flaw_caught("check_then_insert")  # type: ignore[attr-defined]
    assert matrix_for(["failed"] * 19 + ["passed"]).gate()  # type: ignore[attr-defined]
    xml = to_xml_for(matrix)
    assert 'name="check_then_insert"' in xml and "FlawCaughtUnreliably" in xml


def test_a_failing_baseline_fails_the_gate() -> None:
    assert not matrix_for(["failed"] * 20, baseline="failed").gate()  # type: ignore[attr-defined]


def test_a_flaw_nobody_caught_fails_and_errors_are_not_catches() -> None:
    matrix = build_matrix(
        {BASELINE: [run("api.a", "passed")], "no_prg": [run("api.a", "error")]},
        ["no_prg"], ["api.a"], wall={}, command="",
    )  # fmt: skip
    assert matrix.cell("no_prg", "api.a") == "error"
    assert not matrix.gate()
    assert "FlawNotCaught" in to_xml_for(matrix)


def to_xml_for(matrix: object) -> str:
    from datetime import UTC, datetime

    from harness.reports import Environment, RunReport, Target

    report = RunReport(
        tool_version="t", started=datetime.now(UTC), finished=datetime.now(UTC),
        target=Target(name="x", base_url="embedded"),
        environment=Environment(python="3", platform="p"), flaw_matrix=matrix,  # type: ignore[arg-type]
    )  # fmt: skip
    html = to_html(report, Path("."))
    assert 'id="flaw-matrix"' in html and "baseline (no flaw)" in html
    return to_xml(report)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (FlawOptions(flaws=["no_such_flaw"]), "--flaw 'no_such_flaw' is not a flaw; allowed:"),
        (FlawOptions(pattern="nothing.*"), "--scenario 'nothing.*' matched no scenario"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    options: FlawOptions, needle: str, tmp_path: Path
) -> None:
    err = Console(record=True, width=400)
    assert execute(options, tmp_path, Console(quiet=True), err) == 2
    text = err.export_text()
    assert needle in text and text.count("\n") == 1
