"""``nodouble diff`` and ``history.jsonl``: comparing two runs, exporting one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.history import Op
from harness.ledger import LedgerEntry
from harness.reports import Environment, RunReport, ScenarioRun, Target, write_reports
from harness.reports._diff import diff, render
from harness.types import ScenarioStatus, Severity


def charge(row_id: str, order: str, amount: int = 1500) -> dict[str, Any]:
    return {"id": row_id, "kind": "charge", "amount": amount, "currency": "usd",
            "metadata": {"order_id": order}}  # fmt: skip


def run(
    sid: str,
    status: ScenarioStatus = "passed",
    failure: Severity | None = None,
    ledger: list[dict[str, Any]] | None = None,
    repeat: int = 0,
) -> ScenarioRun:
    return ScenarioRun(
        scenario_id=sid, title=sid, threat_id="t", status=status, failure=failure,
        reason=None if status == "passed" else f"{sid} went wrong", repeat=repeat,
        ledger=ledger if ledger is not None else [charge(f"le_{sid}_{repeat}", f"ord_{sid}")],
        business_keys=[f"ord_{sid}"],
        history=[{"index": 0, "type": "invoke", "process": "w", "f": "confirm",
                  "value": {"key": "k1"}, "time_ns": 5, "invoke_index": None}],
    )  # fmt: skip


def report(*runs: ScenarioRun, unowned: int = 0) -> RunReport:
    now = datetime.now(UTC)
    return RunReport(
        tool_version="0", started=now, finished=now, target=Target(name="t", base_url="http://x"),
        environment=Environment(python="3", platform="p"), runs=list(runs),
        unattributed=[charge(f"le_u{i}", "nobody") for i in range(unowned)],
    )  # fmt: skip


def kinds(old: RunReport, new: RunReport) -> dict[str, tuple[str, bool]]:
    """The first change of each scenario (its status; a money change may follow)."""
    found: dict[str, tuple[str, bool]] = {}
    for c in diff(old, new).changes:
        found.setdefault(c.scenario_id, (c.kind, c.regression))
    return found


def test_a_pass_that_fails_on_money_is_a_regression_and_the_way_back_is_not() -> None:
    good = report(run("a"), run("b"))
    bad = report(
        run("a"), run("b", "failed", "money", [charge("x1", "ord_b"), charge("x2", "ord_b")])
    )
    assert diff(good, bad).regressed and not diff(bad, good).regressed
    assert kinds(good, bad)["b"] == ("regression", True)
    assert kinds(bad, good)["b"] == ("improvement", False)
    lines = render(diff(good, bad))
    assert any(line.startswith("REGRESSION  b: passed -> money; b went wrong") for line in lines)
    assert "1 order(s) charged more than once" in "\n".join(lines)  # the money figures, in words
    assert lines[-1].startswith("regressed: 1 scenario(s) regressed, 2 change(s)")


def test_error_is_worse_than_a_pass_and_hygiene_to_money_is_a_regression() -> None:
    assert kinds(report(run("a")), report(run("a", "error")))["a"] == ("regression", True)
    hygiene = report(run("a", "failed", "hygiene"))
    money = report(run("a", "failed", "money"))
    assert kinds(hygiene, money)["a"] == ("regression", True)
    assert kinds(money, hygiene)["a"] == ("improvement", False)


def test_the_worst_repeat_decides_a_scenarios_outcome() -> None:
    old = report(run("r", repeat=0), run("r", repeat=1))
    new = report(run("r", repeat=0), run("r", "failed", "money", repeat=1))
    assert kinds(old, new)["r"] == ("regression", True)


def test_new_removed_and_coverage_changes() -> None:
    old = report(run("gone"), run("na", "not_applicable", ledger=[]))
    new = report(run("fresh_ok"), run("fresh_bad", "failed", "money"), run("na"))
    found = kinds(old, new)
    assert found["gone"] == ("removed", False)
    assert found["fresh_ok"] == ("new", False)
    assert found["fresh_bad"] == ("new", True)
    assert found["na"] == ("changed", False)  # not applicable -> passed: now runs


@pytest.mark.parametrize("before", ["passed", "failed", "error"])
def test_a_scenario_that_ran_and_is_now_not_applicable_lost_coverage(
    before: ScenarioStatus,
) -> None:
    """Passed -> n/a: the threat is no longer tested; failed -> n/a must not read as a fix."""
    old = report(run("s", before, "money" if before == "failed" else None))
    gone = run("s", "not_applicable", ledger=[]).model_copy(
        update={"reason": "the profile declares no capture"}
    )
    result = diff(old, report(gone))
    assert result.regressed
    change = result.changes[0]
    assert (change.kind, change.regression) == ("coverage_lost", True)
    line = render(result)[0]
    assert line.startswith(f"REGRESSION  s: {'money' if before == 'failed' else before} -> ")
    assert "no longer runs (not applicable: the profile declares no capture)" in line
    assert line.endswith("coverage lost")


def test_unchanged_scenarios_are_counted_and_the_diff_is_empty() -> None:
    same = report(run("a"), run("b"))
    result = diff(same, report(run("a"), run("b")))
    assert (result.changes, result.unchanged, result.regressed) == ([], 2, False)


def test_money_figures_that_change_are_listed_and_more_doubles_regress() -> None:
    old = report(run("a", "failed", "money", [charge("1", "ord_a"), charge("2", "ord_a")]))
    new = report(run("a", "failed", "money", [charge("1", "ord_a", 999)]))
    [change] = diff(old, new).changes
    assert change.kind == "money" and not change.regression
    assert "2 charge(s) of 30.00 USD in total" in change.detail
    assert "1 charge(s) of 9.99 USD in total" in change.detail
    [back] = diff(new, old).changes
    assert back.regression  # an order charged twice that was not before


def test_more_unowned_rows_regress() -> None:
    assert diff(report(run("a")), report(run("a"), unowned=1)).regressed
    assert not diff(report(run("a"), unowned=2), report(run("a"), unowned=1)).regressed


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    write_reports(report(run("a"), run("b")), old)
    write_reports(report(run("a"), run("b", "failed", "money")), new)
    return old, new


def test_cli_exit_1_on_regression_0_otherwise(two_runs: tuple[Path, Path]) -> None:
    old, new = two_runs
    cli = CliRunner()
    worse = cli.invoke(app, ["diff", str(old), str(new)])
    assert worse.exit_code == 1, worse.output
    assert "REGRESSION  b: passed -> money" in worse.output
    better = cli.invoke(app, ["diff", str(new / "report.json"), str(old)])
    assert better.exit_code == 0, better.output
    data = json.loads(cli.invoke(app, ["diff", str(old), str(new), "--json"]).output)
    assert data["regression"] is True
    assert [c["scenario_id"] for c in data["changes"]] == ["b"]


def test_cli_missing_or_broken_report_is_exit_2_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{not json")
    cli = CliRunner()
    for args in (["diff", str(tmp_path / "nope"), str(tmp_path / "bad")],
                 ["diff", str(tmp_path / "bad"), str(tmp_path / "bad")]):  # fmt: skip
        result = cli.invoke(app, args)
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_history_jsonl_has_every_op_and_ledger_row_in_order(two_runs: tuple[Path, Path]) -> None:
    _, new = two_runs
    lines = [json.loads(line) for line in (new / "history.jsonl").read_text().splitlines()]
    assert [(r["record"], r["scenario_id"], r["run"]) for r in lines] == [
        ("op", "a", 0), ("ledger", "a", 0), ("op", "b", 1), ("ledger", "b", 1),
    ]  # fmt: skip
    assert lines[0]["f"] == "confirm" and lines[0]["time_ns"] == 5
    assert lines[1]["id"] == "le_a_0" and lines[1]["metadata"] == {"order_id": "ord_a"}
    assert not list(new.glob("*.tmp"))


def test_history_jsonl_ends_with_unowned_rows(tmp_path: Path) -> None:
    write_reports(report(run("a"), unowned=2), tmp_path)
    records = [json.loads(x)["record"] for x in (tmp_path / "history.jsonl").read_text().split()]
    assert records == ["op", "ledger", "unowned", "unowned"]


def _documented(cell: str) -> set[str]:
    """Field names in backticks, alone (`run`) or as a list (`id, kind, amount`)."""
    return {name.strip() for span in re.findall(r"`([\w, ]+)`", cell) for name in span.split(",")}


def test_history_jsonl_lines_have_the_fields_docs_reports_md_names(tmp_path: Path) -> None:
    """The writer, fed what the harness really records (``Op.to_json``,
    ``LedgerEntry.to_row``), writes the fields of the documented schema and no others."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()
    section = doc.split("## history.jsonl", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*?) \| .* \|$", section, re.M))
    rows.pop("record")  # the table's heading
    ledger_cell = re.search(r"^\| `ledger` \| list \| (.*) \|$", doc, re.M)
    assert ledger_cell is not None and set(rows) == {"op", "ledger", "unowned"}
    op_fields = _documented(rows["op"]) - {"invoke", "ok", "fail", "info"}  # type's values
    row_fields = _documented(ledger_cell.group(1).split("(`harness/_attribution.py`)")[1])
    entry = LedgerEntry(id="le_1", kind="charge", amount=1500, currency="usd",
                        intent_id="pi_1", charge_id="ch_1", metadata={"order_id": "ord_a"},
                        idempotency_key="k", account="sk_test_x", created=1.5, seq=3,
                        counted_as="ord_a")  # fmt: skip
    ops = [Op(0, "invoke", "alice", "confirm", {"key": "k"}, 5, None).to_json()]
    ran = run("a", ledger=[entry.to_row()]).model_copy(update={"history": ops})
    write_reports(report(ran).model_copy(update={"unattributed": [entry.to_row()]}), tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    got = {line["record"]: set(line) - {"record"} for line in lines}
    assert got["op"] == op_fields
    assert got["ledger"] == {"run", "scenario_id", "repeat"} | row_fields
    assert got["unowned"] == row_fields
