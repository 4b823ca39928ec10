"""The sequence diagram: who charged when, faults armed and fired, and a cap that keeps the
rows that matter."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from test_reports_story import T0, charge, double_charged, op

from harness.reports import CheckOutcome
from harness.reports._sequence import PASSED_ROWS, events, svg


def _drawn(drawing: str) -> tuple[list[str], list[ET.Element]]:
    root = ET.fromstring(drawing)
    return [t.text or "" for t in root.iter("text")], list(root.iter())


def _classes(elements: list[ET.Element], tag: str) -> list[str]:
    return [e.get("class") or "" for e in elements if e.tag.endswith(tag)]


def test_the_provider_lane_shows_each_call_and_the_client_step_behind_each_charge() -> None:
    texts, elements = _drawn(svg(double_charged()))
    # every ledger row and the call the fault fired on: a line from checkout to provider
    assert _classes(elements, "line").count("call") == 3
    assert "POST /v1/payment_intents" in texts  # the call, labelled on its arrow
    assert "charge le_1 2500 ord_1 ← op #0" in texts
    assert "charge le_2 2500 ord_1 ← op #4" in texts


def test_armed_fired_and_never_fired_faults_look_different() -> None:
    run = double_charged()
    armed = op(6, "invoke", "start_fault", 5, process="nemesis", mode="drop_after",
               endpoint="money", fault="provider")  # fmt: skip
    unfired = op(7, "ok", "fault_report", 960, process="nemesis", fault="provider",
                 mode="error_before", endpoint="money", fired=0, hits=[])  # fmt: skip
    proxy = op(8, "invoke", "start_fault", 6, process="nemesis", fault="proxy",
               action="drop_response", method="POST", path="/confirm")  # fmt: skip
    history = [armed, proxy, *run.history, unfired]
    texts, elements = _drawn(svg(run.model_copy(update={"history": history})))
    paths = _classes(elements, "path")
    assert paths.count("armed") == 2 and paths.count("fault") == 1 and paths.count("unfired") == 1
    assert "armed drop_after on money" in texts
    assert "armed network drop_response on POST /confirm" in texts
    assert "NEVER FIRED: error_before on money" in texts
    never = next(
        e for e in elements if e.tag.endswith("text") and (e.text or "").startswith("NEVER")
    )
    assert never.get("class") == "bad"


def _busy(n: int) -> list[dict[str, Any]]:
    """``n`` ordinary reads (invoke and ok each), answered."""
    found = []
    for i in range(n):
        found.append(op(100 + 2 * i, "invoke", "read_order", 1200 + i, process="bob"))
        done = op(101 + 2 * i, "ok", "read_order", 1200.5 + i, process="bob")
        done["value"]["response"] = {"status": 200}
        found.append(done)
    return found


def test_past_the_cap_ordinary_rows_go_first_and_every_row_that_matters_stays() -> None:
    run = double_charged()
    lie = op(99, "ok", "read_order", 5000, process="bob", response={"status": 200})
    told = CheckOutcome(name="told_the_truth", valid=False, first={"success_ops": [99]})
    busy = run.model_copy(
        update={"history": run.history + _busy(200) + [lie], "checks": [*run.checks, told]}
    )
    everything = events(busy)
    assert len(everything) > PASSED_ROWS + 300
    texts, elements = _drawn(svg(busy, PASSED_ROWS))
    assert _classes(elements, "circle").count("twice") == 2  # the double charge
    assert _classes(elements, "line").count("lost") == 1  # the answer that never came
    assert any("worked then dropped" in t for t in texts)  # the fault that fired
    assert any(t.startswith("read_order: HTTP 200") and "ms" not in t for t in texts)
    kept = [t for t in texts if t.endswith(" ms")]
    assert len(kept) == PASSED_ROWS
    note = next(t for t in texts if "left out" in t)
    assert note.startswith(f"… {len(everything) - PASSED_ROWS} ordinary event(s) left out")
    # the lie is the last row, after 400 ordinary ones: kept because evidence names op 99
    assert texts[-2].startswith("read_order: HTTP 200")


def test_rows_that_matter_are_drawn_even_past_the_cap() -> None:
    run = double_charged()
    rows = [charge(f"le_{i}", "ord_1", 100 + i) for i in range(10)]
    texts, _ = _drawn(svg(run.model_copy(update={"ledger": rows}), max_rows=3))
    assert sum(1 for t in texts if t.startswith("charge le_")) == 10  # all charged twice+
    assert any("ordinary event(s) left out" in t for t in texts)
    assert T0  # one clock: the rows sit at their provider time
