"""The report's first screen (verdict, money, findings, coverage) and its sequence diagrams."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.reports import (
    CheckOutcome,
    Environment,
    RunReport,
    ScenarioRun,
    Target,
    write_reports,
)
from harness.reports._html import anchor, to_html
from harness.reports._model import Threat
from harness.reports._sequence import MAX_ROWS, svg
from harness.reports._story import (
    amount_words,
    coverage,
    finding,
    money,
    reproduce,
    verdict,
)
from harness.reports._threats import threat_catalog
from harness.types import ScenarioStatus, Severity

T0 = 1_800_000_000.0


def op(
    index: int, type_: str, f: str, ms: float, process: str = "alice", **value: Any
) -> dict[str, Any]:
    return {
        "index": index, "type": type_, "process": process, "f": f, "value": value,
        "time_ns": int(ms * 1e6), "invoke_index": None if type_ == "invoke" else index - 1,
    }  # fmt: skip


def charge(row_id: str, order: str, at_ms: float, key: str = "pk") -> dict[str, Any]:
    return {"id": row_id, "kind": "charge", "amount": 2500, "currency": "usd",
            "metadata": {"order_id": order}, "idempotency_key": key,
            "created": T0 + at_ms / 1000}  # fmt: skip


def double_charged() -> ScenarioRun:
    history = [
        op(0, "invoke", "confirm", 10, key="k1"),
        op(1, "info", "confirm", 900, key="k1", error="timeout: read timed out"),
        op(2, "invoke", "fault_report", 950, process="nemesis", mode="drop_after"),
        op(3, "ok", "fault_report", 951, process="nemesis", fault="provider", mode="drop_after",
           hits=[{"method": "POST", "path": "/v1/payment_intents", "at": T0 + 0.2,
                  "effect": "worked then dropped the connection"}]),
        op(4, "invoke", "confirm", 1000, key="k1"),
        op(5, "ok", "confirm", 1100, key="k1", response={"status": 200}, outcome="success"),
    ]  # fmt: skip
    return ScenarioRun(
        scenario_id="provider.lost_response", title="t", threat_id="retry-after-timeout",
        threat_link="docs/threat-model.md#retry-after-timeout", status="failed", failure="money",
        reason="violated: at_most_one_charge", history=history, started_wall=T0,
        ledger=[charge("le_1", "ord_1", 200, "pk1"), charge("le_2", "ord_1", 1050, "pk2")],
        business_keys=["ord_1"],
        checks=[CheckOutcome(name="at_most_one_charge", valid=False, message="2 charges")],
    )  # fmt: skip


def plain(
    sid: str, status: ScenarioStatus = "passed", failure: Severity | None = None
) -> ScenarioRun:
    checks = [CheckOutcome(name="problem_on_5xx", severity="hygiene", valid=status != "failed",
                           message="a 500 answered as text/html")]  # fmt: skip
    return ScenarioRun(scenario_id=sid, title=sid, threat_id=sid.split(".")[0],
                       status=status, failure=failure, reason="why", checks=checks,
                       ledger=[charge(f"le_{sid}", f"ord_{sid}", 5)],
                       business_keys=[f"ord_{sid}"], started_wall=T0)  # fmt: skip


def report(*runs: ScenarioRun, unowned: int = 0, profile: str | None = None) -> RunReport:
    now = datetime.now(UTC)
    return RunReport(tool_version="0", started=now, finished=now, seed=7,
                     target=Target(name="shop", base_url="http://x", profile=profile),
                     environment=Environment(python="3", platform="p"), runs=list(runs),
                     unattributed=[charge(f"u{i}", "x", 0) for i in range(unowned)])  # fmt: skip


def test_a_double_charge_in_one_sentence_with_its_rows_and_the_fault() -> None:
    sentence = finding(double_charged())
    assert sentence.startswith("order ord_1 was charged twice: le_1 at 08:00:00.200 by the ")
    assert (
        "confirm with key k1 (op #0); le_2 at 08:00:01.050 by the retry with key k1 (op #4)"
        in sentence
    )
    assert sentence.endswith(
        " after the provider fault POST /v1/payment_intents: worked then dropped the connection"
        " and the answer to op #0 was lost (timeout: read timed out)."
    )


def test_other_failures_name_the_invariant_in_words() -> None:
    assert finding(plain("a.b", "failed", "hygiene")) == (
        "problem_on_5xx (hygiene): a 500 answered as text/html."
    )
    assert finding(plain("a.b", "error")) == "error: why."


def test_money_counts_charges_amounts_and_doubles() -> None:
    found = money([double_charged(), plain("a.b")])
    assert (found.charges, found.charged, found.double_charged) == (3, (("usd", 7500),), 1)
    assert found.as_words() == (
        "3 charge(s) of 75.00 USD in total, 0 refund(s), 1 order(s) charged more than once"
    )


def test_amounts_in_different_currencies_are_never_added() -> None:
    yen = plain("a.yen")
    yen.ledger[0].update(amount=300, currency="JPY")
    odd = plain("a.odd")
    odd.ledger[0].update(amount=1234, currency="kwd")
    bare = plain("a.bare")
    del bare.ledger[0]["currency"]
    found = money([double_charged(), yen, odd, bare])
    assert found.charged == (("", 2500), ("jpy", 300), ("kwd", 1234), ("usd", 5000))
    assert found.amount() == ("2500 (minor units, no currency) + 300 JPY + 1.234 KWD + 50.00 USD")
    assert money([]).amount() == "0"
    assert amount_words(-5, "eur") == "-0.05 EUR"


def test_verdict_holds_only_without_failures_errors_or_unowned_rows() -> None:
    assert verdict(report(plain("a.b"))).held
    failed = verdict(report(plain("a.b"), double_charged()))
    assert (failed.held, failed.headline) == (False, "FAILED: money lost or at risk")
    assert not verdict(report(plain("a.b", "error"))).held
    unowned = verdict(report(plain("a.b"), unowned=2))
    assert not unowned.held and "2 charge(s) no scenario owns" in unowned.detail
    assert not verdict(report(plain("a.b", "not_applicable"))).held  # nothing was judged


def test_reproduce_names_profile_scenario_and_seed() -> None:
    run = double_charged()
    assert reproduce(report(run, profile="shop.toml"), run) == (
        "nodouble run --target shop.toml --scenario provider.lost_response --seed 7"
    )
    assert "--target" not in reproduce(report(run), run)
    seeded = report(run)
    seeded.environment.extra["flaw"] = "no_prg"
    assert reproduce(seeded, run).startswith("nodouble run --flaw no_prg --scenario ")


def test_reproduce_runs_a_scenario_as_often_as_the_run_did_under_its_gate() -> None:
    runs = [double_charged().model_copy(update={"repeat": n}) for n in range(20)]
    assert reproduce(report(*runs), runs[13]) == (
        "nodouble run --scenario provider.lost_response --repeat 20 --race-repeat 1 --seed 7"
    )
    gated = plain("browser.x", "failed", "hygiene")
    assert reproduce(report(gated), gated) == (
        "nodouble run --scenario browser.x --gate-hygiene --seed 7"
    )


def test_coverage_groups_by_threat_with_the_worst_status_and_its_anchor() -> None:
    runs = [plain("api.a"), plain("api.a", "error"), plain("web.b")]
    rep = report(*runs)
    rows = coverage(rep, {i: anchor(r, i) for i, r in enumerate(runs)})
    assert [(c.threat, [(s.scenario, s.status, s.anchor) for s in c.scenarios]) for c in rows] == [
        ("api", [("api.a", "error", anchor(runs[1], 1))]),
        ("web", [("web.b", "passed", anchor(runs[2], 2))]),
    ]
    judged = rows[0].scenarios[0].invariants
    assert [(j.name, j.valid, j.anchor) for j in judged] == [
        ("problem_on_5xx", "true", "v1-problem_on_5xx")
    ]


def test_coverage_lists_every_threat_and_scenario_of_the_catalog_run_or_not() -> None:
    runs = [plain("api.a")]
    rep = report(*runs).model_copy(
        update={
            "threats": [
                Threat(id="api", text="the API threat", scenarios=["api.a", "api.z"]),
                Threat(id="gone", text="never run", scenarios=["gone.x"]),
                Threat(id="bare", text="no scenario"),
            ]
        }
    )
    rows = {c.threat: c for c in coverage(rep, {0: anchor(runs[0], 0)})}
    assert [(s.scenario, s.status) for s in rows["api"].scenarios] == [
        ("api.a", "passed"),
        ("api.z", "not run"),
    ]
    assert rows["api"].run and not rows["gone"].run and not rows["bare"].run
    said = verdict(rep)
    assert said.held and said.detail.endswith("; 2 of 3 threat(s) not run")  # not the gate
    assert said.headline == "PASSED: no money lost or at risk in the 1 threat(s) tested"
    assert rows["gone"].scenarios[0].anchor == "" and rows["gone"].text == "never run"
    html = to_html(rep, Path("."))
    assert "Not run: gone, bare." in html
    assert 'id="threat-gone"' in html and "no scenario of the catalog covers it" in html
    # each invariant links to its verdict row, which carries that id
    link = "v0-problem_on_5xx"
    assert f'href="#{link}"' in html and f'id="{link}"' in html


def test_browser_runs_left_out_under_ci_fail_the_verdict_and_the_exit_code() -> None:
    from harness._cli_run import exit_code

    left = plain("browser.x", "not_applicable").model_copy(
        update={"reason": "no Chromium could be found (tried: /usr/bin/chromium)"}
    )
    local = report(plain("api.one"), left)
    assert verdict(local).held and exit_code(local) == 0
    extra = {"ci": "true"}
    in_ci = local.model_copy(update={"environment": Environment(python="3", platform="p",
                                                                extra=extra)})  # fmt: skip
    said = verdict(in_ci)
    assert not said.held and exit_code(in_ci) == 1
    assert said.detail.startswith("1 browser scenario run(s) left out under CI: no Chromium")
    # left out on purpose (--no-browser) is not a missing Chromium
    chosen = left.model_copy(update={"reason": "--no-browser"})
    assert verdict(in_ci.model_copy(update={"runs": [plain("api.one"), chosen]})).held


def test_the_page_says_verdicts_and_amounts_in_words() -> None:
    failed = double_charged().model_copy(
        update={
            "checks": [
                CheckOutcome(name="at_most_one_charge", severity="money", valid=False,
                             message="charged twice"),
                CheckOutcome(name="no_lost_payment", severity="money", valid="unknown",
                             message="never read"),
                CheckOutcome(name="told_the_truth", severity="money", valid=True,
                             message="ok"),
            ]
        }
    )  # fmt: skip
    html = to_html(report(failed), Path("."))
    cells = re.findall(r'<tr id="v0-(\w+)">.*?<td class="valid-(\w+)">([^<]*)</td>', html, re.S)
    assert cells == [
        ("at_most_one_charge", "false", "violated"),
        ("no_lost_payment", "unknown", "unknown"),
        ("told_the_truth", "true", "held"),
    ]
    assert ">True<" not in html and ">False<" not in html
    assert 'data-testid="money-amount">50.00 USD</b>' in html
    assert "2 charge(s) of 50.00 USD in total" in html
    assert "orders charged more than once<b" in html
    # the timeline counts from where the diagram does: the retry (op 4, 1000 ms after the
    # history began) reads 1000 ms in both, not 990 ms after the first operation
    rows = re.findall(r"<tr><td>(\d+)</td><td>([\d.]+)</td>", html)
    assert ("4", "1000.0") in rows
    assert ">1000 ms</text>" in html
    # the header's times to the second, in UTC, the exact instant kept in the attribute
    shown = report(failed).model_copy(
        update={"started": datetime(2026, 12, 2, 5, 20, 36, 860905, tzinfo=UTC)}
    )
    assert '2026-12-02T05:20:36.860905+00:00">2026-12-02 05:20:36 UTC</time>' in to_html(
        shown, Path(".")
    )


def test_the_threat_catalog_is_every_threat_of_the_model_with_its_text() -> None:
    model = Path(__file__).resolve().parents[2] / "docs" / "threat-model.md"
    headings = re.findall(
        r"^###\s+(\S+)", model.read_text().split("## Threats by name")[1], re.MULTILINE
    )
    threats = threat_catalog(model)
    assert [t.id for t in threats] == headings
    by_id = {t.id: t for t in threats}
    assert by_id["double-click"].text.startswith("Two or more clicks on Pay")
    assert "browser.double_click_ssr" in by_id["double-click"].scenarios
    assert [t.id for t in threat_catalog(model.with_name("missing.md"))] == sorted(
        {t.id for t in threats if t.scenarios}
    )


def test_sequence_diagram_is_well_formed_and_marks_the_double_charge() -> None:
    drawing = svg(double_charged())
    root = ET.fromstring(drawing)
    texts = [t.text or "" for t in root.iter("text")]
    assert {"customer", "checkout", "provider"} <= set(texts)
    assert len([c for c in root.iter("circle") if c.get("class") == "twice"]) == 2
    assert any(line.get("class") == "lost" for line in root.iter("line"))  # the lost answer
    assert any("worked then dropped" in t for t in texts)  # the fault, on the provider lane
    # one time axis: the first charge (200 ms) sits between the send (10) and the loss (900)
    order = [t for t in texts if t.startswith(("#0 alice:", "charge le_1", "confirm: timeout"))]
    assert order[:3] == ["#0 alice: confirm key k1", "charge le_1 2500 ord_1 ← op #0",
                         "confirm: timeout: read timed out"]  # fmt: skip


def test_sequence_escapes_text_and_caps_its_rows() -> None:
    run = double_charged()
    evil = [op(i, "invoke", "<script>x</script>", i) for i in range(MAX_ROWS + 5)]
    drawing = svg(run.model_copy(update={"history": evil, "ledger": []}))
    assert "<script>" not in drawing
    root = ET.fromstring(drawing)
    assert any("5 ordinary event(s) left out" in (t.text or "") for t in root.iter("text"))


def _png(size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0" * size  # only its weight matters here


def test_a_passing_report_links_screenshots_and_stays_small(tmp_path: Path) -> None:
    runs = []
    for i in range(40):
        shot = f"artifacts/s{i}.png"
        (tmp_path / "artifacts").mkdir(exist_ok=True)
        (tmp_path / shot).write_bytes(_png(150_000))
        runs.append(plain(f"browser.s{i}").model_copy(update={"screenshots": [shot]}))
    html = write_reports(report(*runs), tmp_path)["html"].read_text()
    assert len(html.encode()) < 1_000_000
    assert 'src="artifacts/s0.png"' in html and "data:image/png" not in html
    # a passing run's timeline and exchanges stay in report.json / history.jsonl
    assert "HTTP exchanges (" not in html and "in report.json and history.jsonl (run 0)" in html


def test_a_failing_runs_screenshot_travels_inside_the_page(tmp_path: Path) -> None:
    (tmp_path / "shot.png").write_bytes(_png(100))
    run = double_charged().model_copy(update={"screenshots": ["shot.png"]})
    html = write_reports(report(run), tmp_path)["html"].read_text()
    assert "data:image/png;base64," in html
    assert "charged twice" in html and "nodouble run --scenario provider.lost_response" in html
    assert "HTTP exchanges (" in html and "<summary>Timeline (6 operations)" in html
