"""End to end: the manual-capture and search-lag scenarios against the embedded default
(reference_app + fake provider processes, SQLite), through the runner and interpreter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.profile import load_profile
from harness.reports import ScenarioRun
from harness.runner import Runner, RunOptions
from harness.target import Target, open_target
from scenarios import get

REFERENCE = Path(__file__).resolve().parents[2] / "targets" / "reference.toml"
IDS = (
    "capture.lost_answer",
    "capture.provider_error",
    "capture.client_answer_lost",
    "provider.search_lag_new_key",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ScenarioRun]]:
    tmp = tmp_path_factory.mktemp("capture-run")
    target: Target = open_target(load_profile(REFERENCE), tmp)
    try:
        report = Runner(target, tmp / "out", RunOptions()).run([get(i) for i in IDS])
    finally:
        target.stop()
    yield {run.scenario_id: run for run in report.runs}


def ops(run: ScenarioRun, f: str) -> list[dict[str, Any]]:
    return [op for op in run.history if op["f"] == f and op["type"] != "invoke"]


@pytest.mark.parametrize("sid", IDS)
def test_the_reference_checkout_passes(runs: dict[str, ScenarioRun], sid: str) -> None:
    run = runs[sid]
    assert run.status == "passed", (run.reason, [(c.name, c.valid, c.message) for c in run.checks])
    assert all(c.valid is True for c in run.checks)
    assert len([e for e in run.ledger if e.get("kind") == "charge"]) == 1


def test_the_lost_capture_is_unknown_first_then_paid(runs: dict[str, ScenarioRun]) -> None:
    run = runs["capture.lost_answer"]
    [confirm] = ops(run, "confirm")
    assert confirm["value"]["outcome"] == "authorized"
    first_read, last_read = ops(run, "read_order")
    assert first_read["value"]["paid"] is False  # authorised is not paid
    assert last_read["value"]["paid"] is True
    captures = ops(run, "capture")
    assert captures[0]["value"]["outcome"] in ("pending", "unknown")
    assert captures[-1]["value"]["outcome"] == "success"
    [report] = [op for op in ops(run, "fault_report") if op["value"].get("mode") == "drop_after"]
    assert report["value"]["fired_on_money"] >= 1
    [charge] = [e for e in run.ledger if e.get("kind") == "charge"]
    assert str(charge["idempotency_key"]).startswith("nodouble-capture-")


def test_the_search_lag_is_reported_and_the_retry_used_a_new_key(
    runs: dict[str, ScenarioRun],
) -> None:
    run = runs["provider.search_lag_new_key"]
    keys = [op["value"]["key"] for op in ops(run, "confirm")]
    assert len(set(keys)) == 2 and keys[1] == keys[-1]
    reports = {op["value"].get("mode"): op["value"] for op in ops(run, "fault_report")}
    assert "search_lag" in reports and "search_lag" in reports["search_lag"]
    assert reports["drop_after"]["fired_on_money"] >= 1


def test_a_capture_answer_lost_on_the_way_to_the_client_is_replayed(
    runs: dict[str, ScenarioRun],
) -> None:
    run = runs["capture.client_answer_lost"]
    lost, retry = ops(run, "capture")
    assert lost["type"] == "info" and "response" not in lost["value"]
    assert retry["value"]["outcome"] == "success"
    assert retry["value"].get("replayed") is True


def test_a_target_that_ignores_confirm_body_is_an_error_never_a_pass(tmp_path: Path) -> None:
    """Without ``confirm_body`` the reference checkout charges at the confirm (its setting
    is automatic): the capture steps would test nothing, so the run is an error. This
    scenario arms no provider fault, so nothing else stops it: without the check it
    passed (measured 2026-12-02)."""
    profile = load_profile(REFERENCE)
    assert profile.api is not None and profile.api.capture is not None
    capture = profile.api.capture.model_copy(update={"confirm_body": {}})
    api = profile.api.model_copy(update={"capture": capture})
    target = open_target(profile.model_copy(update={"api": api}), tmp_path)
    try:
        report = Runner(target, tmp_path / "out", RunOptions()).run(
            [get("capture.client_answer_lost")]
        )
    finally:
        target.stop()
    [run] = report.runs
    assert run.status == "error", (run.status, run.reason)
    assert run.reason and "not answered as authorised" in run.reason
    assert "[api.capture] confirm_body" in run.reason and "authorized_pointer" in run.reason
    assert not any(op["f"] == "capture" for op in run.history)  # stopped at the confirm
