"""What the runner does when runs overlap: which operations make a run "busy paying" (the
attribution's tie-breaker), and a ledger row no single run can own never ends in a pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from harness._attribution import Window, attribute
from harness.history import History
from harness.ledger import LedgerEntry
from harness.reports import ScenarioRun
from harness.runner import Runner, _ambiguous, _busy
from harness.target import Target
from scenarios import get


def _click(history: History, process: str, **extra: Any) -> None:
    history.ok(history.invoke(process, "click", {"selector": "#x", **extra}))


def test_pay_clicks_and_payments_on_the_provider_pages_are_busy_spans() -> None:
    history = History()
    _click(history, "tab-1")  # a plain click: not a payment
    history.ok(history.invoke("tab-1", "page_load", {"target": "/checkout"}))
    _click(history, "tab-1", pay=True)
    _click(history, "tab-2", hosted="provider_pay", payment_method="pm_card_visa")
    _click(history, "tab-2", hosted="open")  # opening the hosted page pays nothing yet
    _click(history, "tab-3", challenge="pi_1", outcome_asked="succeed")
    history.info(history.invoke("tab-3", "hosted_pay_off_page", {"session": "cs_1"}))
    history.ok(history.invoke("alice-1", "confirm", {"key": "k1"}))
    assert len(_busy(history)) == 5


def test_two_browser_runs_paying_in_the_same_instant_leave_a_stray_row_to_neither() -> None:
    stray = LedgerEntry("ch_x", "charge", 2500, "usd", seq=3, created=10.0)
    first = Window(run=0, first_seq=0, last_seq=5, orders=frozenset({"o1"}), busy=((9.9, 10.1),))
    second = Window(run=1, first_seq=1, last_seq=6, orders=frozenset({"o2"}), busy=((9.8, 10.2),))
    shares = attribute([stray], [first, second], "order_id").shares
    assert shares[0].ambiguous == ["ch_x"] and shares[1].ambiguous == ["ch_x"]
    assert shares[0].entries == [] and shares[1].entries == []


def _undecided(sid: str) -> ScenarioRun:
    read = {"ambiguous": ["ch_x"], "strays": [], "rows": 0}
    history = [{"f": "ledger_read", "type": "ok", "process": "harness", "value": read}]
    return ScenarioRun(
        scenario_id=sid, title="t", threat_id="t", status="error", reason="could not decide",
        history=history,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("alone", "status"), [("passed", "error"), ("failed", "failed"), ("error", "error")]
)
def test_a_run_left_undecided_by_overlap_is_run_again_alone_and_never_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alone: str, status: str
) -> None:
    scenario = get("browser.double_click_ssr")
    first = _undecided(scenario.id)
    assert _ambiguous(first) == ["ch_x"]
    again: list[tuple[str, int]] = []

    def run_one(self: Runner, chosen: Any, repeat: int = 0) -> ScenarioRun:
        again.append((chosen.id, repeat))
        return ScenarioRun(scenario_id=chosen.id, title="t", threat_id="t", status=alone)

    monkeypatch.setattr(Runner, "run_one", run_one)
    runner = Runner(cast(Target, None), tmp_path)
    result = runner._again_alone(scenario, 2, first)
    assert again == [(scenario.id, 2)]
    assert result.status == status
    if alone == "passed":
        assert "could not be attributed" in (result.reason or "")
