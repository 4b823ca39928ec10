"""The flaw matrix's verdicts, on hand-written runs (no server)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console

from harness.flaws import BASELINE, CAUGHT_BY, FlawOptions, build_matrix, execute, plan
from harness.reports import Environment, FlawMatrix, RunReport, ScenarioRun, Target, to_html, to_xml
from harness.reports._model import CheckOutcome
from scenarios import select

EXPECTED = {
    "no_prg": {"api.a": ["post_redirect_get"]},
    "check_then_insert": {"api.race": ["at_most_one_charge"]},
}


def run(
    sid: str, status: str, repeat: int = 0, violated: str = "at_most_one_charge"
) -> ScenarioRun:
    checks = [CheckOutcome(name="told_the_truth", valid=True)]
    if status == "failed":
        checks.append(CheckOutcome(name=violated, valid=False, message=f"{violated} broke"))
    return ScenarioRun(
        scenario_id=sid, title=sid, threat_id="race-conditions", status=status,
        repeat=repeat, checks=checks,
    )  # fmt: skip


SCENARIOS = ["api.a", "api.race"]


def matrix_for(race_results: list[str], baseline: str = "passed") -> FlawMatrix:
    racy = [run("api.a", "passed")] + [
        run("api.race", status, i) for i, status in enumerate(race_results)
    ]
    results = {
        BASELINE: [run("api.a", baseline), run("api.race", "passed")],
        "no_prg": [run("api.a", "failed", violated="post_redirect_get"), run("api.race", "passed")],
        "check_then_insert": racy,
    }
    return build_matrix(
        results, ["no_prg", "check_then_insert"], SCENARIOS, wall={}, command="test",
        expected=EXPECTED,
    )  # fmt: skip


def report_of(matrix: FlawMatrix) -> RunReport:
    return RunReport(
        tool_version="t", started=datetime.now(UTC), finished=datetime.now(UTC),
        target=Target(name="x", base_url="embedded"),
        environment=Environment(python="3", platform="p"), flaw_matrix=matrix,
    )  # fmt: skip


def flaw_cases(matrix: FlawMatrix) -> dict[str, ET.Element]:
    suites = ET.fromstring(to_xml(report_of(matrix)))
    suite = next(s for s in suites if s.get("name") == "nodouble flaws")
    return {case.get("name", ""): case for case in suite}


def html_of(matrix: FlawMatrix) -> str:
    html = to_html(report_of(matrix), Path("."))
    assert 'id="flaw-matrix"' in html and "baseline (no flaw)" in html
    return html


def test_caught_everywhere_passes_the_gate() -> None:
    matrix = matrix_for(["failed"] * 20)
    assert matrix.gate()
    assert matrix.caught_by("no_prg") == ["api.a"]
    assert matrix.verdicts == {"no_prg": "caught", "check_then_insert": "caught"}
    rate = matrix.rates["check_then_insert"]
    assert (rate.caught, rate.runs, rate.scenarios) == (20, 20, ["api.race"])
    assert "no_prg" not in matrix.rates
    [evidence] = matrix.evidence["no_prg"]
    assert (evidence.scenario, evidence.violated, evidence.cell) == (
        "api.a", ["post_redirect_get"], "caught",
    )  # fmt: skip


def test_a_racy_flaw_caught_18_of_20_fails_the_gate() -> None:
    matrix = matrix_for(["failed"] * 18 + ["passed"] * 2)
    assert not matrix.gate()
    assert matrix.caught_by("check_then_insert") == ["api.race"]
    assert not matrix.flaw_caught("check_then_insert")
    assert matrix.verdict("check_then_insert") == "caught_too_rarely"
    assert matrix_for(["failed"] * 19 + ["passed"]).gate()
    case = flaw_cases(matrix)["check_then_insert"]
    assert case.find("failure") is not None
    assert case.find("failure").get("type") == "FlawCaughtUnreliably"  # type: ignore[union-attr]


def test_a_failing_baseline_fails_the_gate() -> None:
    assert not matrix_for(["failed"] * 20, baseline="failed").gate()


def test_a_baseline_with_an_ungated_hygiene_finding_is_not_clean() -> None:
    noisy = run("api.a", "passed")
    noisy.checks.append(CheckOutcome(name="post_redirect_get", valid=False, message="200"))
    matrix = build_matrix(
        {BASELINE: [noisy], "no_prg": [run("api.a", "failed", violated="post_redirect_get")]},
        ["no_prg"], ["api.a"], wall={}, command="", expected=EXPECTED,
    )  # fmt: skip
    assert matrix.baseline == {"api.a": "failed"}
    assert not matrix.gate()


def test_a_named_invariant_counts_even_when_the_run_passed_the_money_gate() -> None:
    hygiene = run("api.a", "passed")
    hygiene.checks.append(CheckOutcome(name="post_redirect_get", valid=False, message="200"))
    matrix = build_matrix(
        {BASELINE: [run("api.a", "passed")], "no_prg": [hygiene]},
        ["no_prg"], ["api.a"], wall={}, command="", expected=EXPECTED,
    )  # fmt: skip
    assert matrix.cell("no_prg", "api.a") == "caught"
    assert matrix.gate()


def test_a_flaw_nobody_caught_fails_and_errors_are_not_catches() -> None:
    matrix = build_matrix(
        {BASELINE: [run("api.a", "passed")], "no_prg": [run("api.a", "error")]},
        ["no_prg"], ["api.a"], wall={}, command="", expected=EXPECTED,
    )  # fmt: skip
    assert matrix.cell("no_prg", "api.a") == "error"
    assert matrix.verdict("no_prg") == "not_caught"
    assert not matrix.gate()
    assert flaw_cases(matrix)["no_prg"].find("failure").get("type") == "FlawNotCaught"  # type: ignore[union-attr]
    assert html_of(matrix).count("NOT CAUGHT") >= 1


def test_a_failure_on_another_invariant_is_reported_as_unrelated_and_fails() -> None:
    """no_prg's named scenario fails, but on at_most_one_charge; another scenario fails too.

    Neither counts: the flaw is ``caught_unrelated``, the gate fails, and the JSON, JUnit
    and HTML outputs all say so, naming what was found and what was needed."""
    results = {
        BASELINE: [run("api.a", "passed"), run("api.race", "passed")],
        "no_prg": [run("api.a", "failed"), run("api.race", "failed", violated="told_the_truth")],
    }
    matrix = build_matrix(results, ["no_prg"], SCENARIOS, wall={}, command="", expected=EXPECTED)
    assert matrix.cells["no_prg"] == {"api.a": "unrelated", "api.race": "unrelated"}
    assert matrix.caught_by("no_prg") == []
    assert matrix.failed_unrelated("no_prg") == ["api.a", "api.race"]
    assert matrix.verdict("no_prg") == "caught_unrelated"
    assert not matrix.flaw_caught("no_prg") and not matrix.gate()
    assert [(e.scenario, e.violated, e.cell) for e in matrix.evidence["no_prg"]] == [
        ("api.a", ["at_most_one_charge"], "unrelated"),
        ("api.race", ["told_the_truth"], "unrelated"),
    ]
    dumped = json.loads(report_of(matrix).model_dump_json())["flaw_matrix"]
    assert dumped["verdicts"] == {"no_prg": "caught_unrelated"}
    assert dumped["expected"] == {"no_prg": {"api.a": ["post_redirect_get"]}}
    assert dumped["cells"]["no_prg"]["api.a"] == "unrelated"
    failure = flaw_cases(matrix)["no_prg"].find("failure")
    assert failure is not None and failure.get("type") == "FlawCaughtUnrelated"
    assert "named: api.a: post_redirect_get" in (failure.text or "")
    assert "api.a (unrelated): at_most_one_charge" in (failure.text or "")
    html = html_of(matrix)
    assert "CAUGHT UNRELATED" in html and "caught only by unrelated failures: no_prg" in html
    assert 'class="cell c-unrelated named"' in html


def test_named_scenarios_not_run_are_not_run_not_passed() -> None:
    matrix = build_matrix(
        {BASELINE: [run("api.race", "passed")], "no_prg": [run("api.race", "passed")]},
        ["no_prg"], ["api.race"], wall={}, command="", expected=EXPECTED,
    )  # fmt: skip
    assert matrix.verdict("no_prg") == "not_run" and not matrix.gate()
    assert flaw_cases(matrix)["no_prg"].find("failure").get("type") == "FlawNotRun"  # type: ignore[union-attr]


def test_the_racy_rate_counts_only_named_invariants() -> None:
    racy = [run("api.race", "failed", i, violated="told_the_truth") for i in range(3)]
    matrix = build_matrix(
        {BASELINE: [run("api.race", "passed")], "check_then_insert": racy},
        ["check_then_insert"], ["api.race"], wall={}, command="", expected=EXPECTED,
    )  # fmt: skip
    rate = matrix.rates["check_then_insert"]
    assert (rate.caught, rate.runs) == (0, 3)
    assert matrix.verdict("check_then_insert") == "caught_unrelated"


def test_a_racy_flaw_run_once_has_a_rate_of_one_repeat() -> None:
    matrix = build_matrix(
        {BASELINE: [run("api.race", "passed")], "check_then_insert": [run("api.race", "failed")]},
        ["check_then_insert"], ["api.race"], wall={}, command="", expected=EXPECTED,
    )  # fmt: skip
    rate = matrix.rates["check_then_insert"]
    assert (rate.caught, rate.runs, rate.per_scenario) == (1, 1, {"api.race": [1, 1]})
    assert matrix.gate()


def test_named_only_plan_gives_each_flaw_its_own_scenarios() -> None:
    flaws = ["check_then_insert", "webhook_no_signature", "cacheable_pages"]
    ids = [
        "api.parallel_same_key", "api.parallel_different_keys", "webhooks.forged",
        "webhooks.duplicate", "browser.back_forward_ssr", "browser.back_forward_spa",
    ]  # fmt: skip
    jobs = plan(flaws, ids, named_only=True)
    for flaw in flaws:
        assert jobs.scenarios[flaw] == [s for s in ids if s in CAUGHT_BY[flaw]]
    union = sorted({s for f in flaws for s in CAUGHT_BY[f]})
    assert sorted(jobs.scenarios[BASELINE]) == union
    assert jobs.repeated["check_then_insert"] == list(CAUGHT_BY["check_then_insert"])
    assert "webhook_no_signature" not in jobs.repeated
    assert sorted(jobs.repeated[BASELINE]) == sorted(CAUGHT_BY["check_then_insert"])
    full = plan(flaws, ids, named_only=False)
    in_catalog_order = [s.id for s in select() if s.id in ids]
    assert all(full.scenarios[f] == in_catalog_order for f in [BASELINE, *flaws])
    nothing = plan(["no_prg"], ["webhooks.forged"], named_only=True)
    assert "no_prg" not in nothing.scenarios  # no stack started for nothing: not_run


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (FlawOptions(flaws=["no_such_flaw"]), "--flaw 'no_such_flaw' is not a flaw; allowed:"),
        (FlawOptions(pattern="nothing.*"), "--scenario 'nothing.*' matched no scenario"),
        (
            FlawOptions(flaws=["no_prg"], pattern="webhooks.*", named_only=True),
            "--scenario 'webhooks.*' matched no scenario",
        ),
    ],
)
def test_bad_options_exit_2_with_one_line(
    options: FlawOptions, needle: str, tmp_path: Path
) -> None:
    err = Console(record=True, width=400)
    assert execute(options, tmp_path, Console(quiet=True), err) == 2
    text = err.export_text()
    assert needle in text and text.count("\n") == 1
