from __future__ import annotations

import base64
import json
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

from harness.checkers import CheckResult
from harness.history import History
from harness.reports import (
    CheckOutcome,
    Environment,
    FlawMatrix,
    ReportError,
    RunReport,
    ScenarioRun,
    Target,
    load_report,
    redact,
    render_html,
    write_reports,
)

SECRET_KEY = "sk_test_51SuperSecretKey"
SCRIPT = "<script>alert('pwned')</script>"


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2 + b"\x00" + b"\x00\x00\xff" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def history() -> list[dict[str, Any]]:
    h = History()
    inv = h.invoke(
        "worker-1",
        "confirm",
        {
            "order_id": "o1",
            "user": "alice",
            "key": "k1",
            "request": {
                "method": "POST",
                "url": "http://127.0.0.1:8000/api/orders/o1/confirm",
                "headers": {
                    "Authorization": f"Bearer {SECRET_KEY}",
                    "Cookie": "nodouble_session=abc.def",
                    "Idempotency-Key": "k1",
                },
                "body": {"payment_method": "pm_card_visa", "note": SCRIPT},
            },
        },
    )
    h.ok(
        inv,
        {
            "response": {
                "status": 200,
                "headers": {"Set-Cookie": "nodouble_session=zzz", "Stripe-Signature": "t=1,v1=ab"},
                "body": {"order_id": "o1", "echo": f"key {SECRET_KEY} whsec_abcdef", "x": SCRIPT},
            },
            "outcome": "success",
            "screenshot": "shots/confirm.png",
        },
    )
    return h.to_json()


LEDGER = [
    {
        "id": "l1",
        "kind": "charge",
        "amount": 1500,
        "currency": "usd",
        "metadata": {"order_id": "o1"},
    },
    {
        "id": "l2",
        "kind": "charge",
        "amount": 1500,
        "currency": "usd",
        "metadata": {"order_id": "o1"},
    },
]


def sample_report() -> RunReport:
    violated = CheckOutcome.of(
        CheckResult(
            "at_most_one_charge",
            False,
            {"keys": 1, "double_charged_keys": 1},
            {"order_id": "o1", "charges": ["l1", "l2"]},
            {"order_id": "o1", "charges": ["l1", "l2"]},
            "1 order(s) charged more than once",
        )
    )
    ok = CheckOutcome.of(CheckResult("told_the_truth", True, {"keys": 1}, message="fine"))
    runs = [
        ScenarioRun(
            scenario_id="api.parallel_burst",
            title="Parallel confirm burst",
            group="api",
            threat_id="T2 Parallel",
            status="failed",
            duration_s=1.25,
            checks=[violated, ok],
            history=history(),
            ledger=LEDGER,
            business_keys=["o1"],
            screenshots=["shots/confirm.png"],
        ),
        ScenarioRun(
            scenario_id="api.parallel_burst",
            title="Parallel confirm burst",
            group="api",
            threat_id="T2 Parallel",
            repeat=1,
            status="passed",
            checks=[ok],
            history=history(),
        ),
        ScenarioRun(
            scenario_id="browser.back",
            title="Back after pay",
            group="browser",
            threat_id="T5",
            status="not_applicable",
            reason="target declares no [browser]",
        ),
        ScenarioRun(
            scenario_id="process.crash",
            title="Crash mid-payment",
            group="process",
            threat_id="T7",
            status="error",
            reason="target did not restart within 30 s",
            checks=[CheckOutcome(name="no_orphan_charge", valid="unknown", message="unread")],
        ),
    ]
    return RunReport(
        tool_version="0.1.0",
        started=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        finished=datetime(2025, 1, 2, 3, 5, 0, tzinfo=UTC),
        target=Target(name="reference", base_url="http://admin:hunter2@127.0.0.1:8000"),
        seed=42,
        environment=Environment(python="3.11.7", platform="linux", chromium="131"),
        runs=runs,
        flaw_matrix=FlawMatrix(
            flaws=["no_idempotency", "no_prg"],
            scenarios=["api.parallel_burst", "browser.back"],
            cells={
                "no_idempotency": {"api.parallel_burst": "caught", "browser.back": "passed"},
                "no_prg": {"browser.back": "caught"},
            },
        ),
    )


@pytest.fixture
def written(tmp_path: Path) -> dict[str, Path]:
    run_dir = tmp_path / "reports" / "20250102T030405Z"
    (run_dir / "shots").mkdir(parents=True)
    (run_dir / "shots" / "confirm.png").write_bytes(tiny_png())
    return write_reports(sample_report(), run_dir)


def test_json_round_trip_and_redaction(written: dict[str, Path]) -> None:
    loaded = load_report(written["json"])
    original = sample_report()
    assert loaded.schema_version == "1"
    assert [r.status for r in loaded.runs] == [r.status for r in original.runs]
    assert loaded.runs[0].checks == original.runs[0].checks
    assert loaded.runs[0].threat_link == "docs/threat-model.md#t2-parallel"
    assert loaded.runs[1].case_name == "api.parallel_burst#1"
    assert loaded.target.base_url == "http://***@127.0.0.1:8000"
    assert loaded.summary().model_dump() == {
        "passed": 1,
        "failed": 1,
        "not_applicable": 1,
        "error": 1,
        "charges": 2,
    }
    assert loaded.flaw_matrix is not None
    assert loaded.flaw_matrix.catch_rate("no_idempotency") == 0.5
    assert loaded.flaw_matrix.catch_rate("no_prg") == 1.0
    assert loaded.model_dump_json() == load_report(written["json"]).model_dump_json()
    text = written["json"].read_text()
    assert SECRET_KEY not in text and "hunter2" not in text and "abc.def" not in text
    assert "sk_test_***" in text


def test_junit_counts_and_messages(written: dict[str, Path]) -> None:
    xml = JUnitXml.fromfile(str(written["junit"]))
    [suite] = list(xml)
    assert (suite.tests, suite.failures, suite.skipped, suite.errors) == (4, 1, 1, 1)
    cases = {case.name: case for case in suite}
    assert set(cases) == {
        "api.parallel_burst",
        "api.parallel_burst#1",
        "browser.back",
        "process.crash",
    }
    assert cases["api.parallel_burst"].classname == "api"
    [failure] = cases["api.parallel_burst"].result
    assert isinstance(failure, Failure)
    assert failure.message == "violated: at_most_one_charge (money)"
    assert failure.type == "MoneyInvariantViolated"
    assert '"charges": ["l1", "l2"]' in (failure.text or "")
    assert cases["api.parallel_burst#1"].is_passed
    [skipped] = cases["browser.back"].result
    assert isinstance(skipped, Skipped) and "no [browser]" in (skipped.message or "")
    [error] = cases["process.crash"].result
    assert isinstance(error, Error) and error.message == "target did not restart within 30 s"


def test_html_is_self_contained_escaped_and_redacted(written: dict[str, Path]) -> None:
    html = written["html"].read_text()
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html or "\\u003cscript\\u003e" in html
    for secret in (
        SECRET_KEY,
        "abc.def",
        "nodouble_session=zzz",
        "v1=ab",
        "hunter2",
        "whsec_abcdef",
    ):
        assert secret not in html, secret
    assert "sk_test_***" in html and "whsec_***" in html
    png = base64.b64encode(tiny_png()).decode()
    assert f'src="data:image/png;base64,{png}"' in html
    assert "http://" not in html.replace("http://***@127.0.0.1:8000", "").replace(
        "http://127.0.0.1:8000/api/orders/o1/confirm", ""
    )
    # the threat links inside the page, where its text is embedded (works wherever it is opened)
    assert 'href="#threat-T2-Parallel"' in html and 'id="threat-T2-Parallel"' in html
    assert 'href="docs/' not in html
    assert "<link" not in html and "<script" not in html
    assert 'id="flaw-matrix"' in html and "50%" in html


def test_screenshot_outside_report_dir_is_not_embedded(tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(tiny_png())
    report = sample_report()
    report.runs[1].screenshots = ["../secret.png", "missing.png"]
    paths = write_reports(report, tmp_path / "run")
    html = paths["html"].read_text()
    assert "outside the report directory" in html
    assert "missing from the report directory" in html


def test_latest_link_and_fallback(tmp_path: Path) -> None:
    first = write_reports(sample_report(), tmp_path / "r1")
    second = write_reports(sample_report(), tmp_path / "r2")
    assert first["latest"] == second["latest"] == tmp_path / "latest"
    assert (tmp_path / "latest").resolve() == (tmp_path / "r2").resolve()
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").mkdir()
    third = write_reports(sample_report(), tmp_path / "r3")
    assert third["latest"] == tmp_path / "latest.txt"
    assert (tmp_path / "latest.txt").read_text() == "r3\n"


def test_render_html_from_json(written: dict[str, Path]) -> None:
    written["html"].unlink()
    assert render_html(written["json"].parent) == written["html"]
    assert "Parallel confirm burst" in written["html"].read_text()


def test_load_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such report"):
        load_report(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": "9"}))
    with pytest.raises(ReportError, match="schema_version '9' is not supported"):
        load_report(bad)
    data = json.loads(sample_report().model_dump_json())
    data["runs"][0]["status"] = "maybe"
    bad.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"runs\.0\.status"):
        load_report(bad)


def test_redact() -> None:
    assert redact({"headers": {"authorization": "Bearer x", "X-Trace": "ok"}}) == {
        "headers": {"authorization": "***", "X-Trace": "ok"}
    }
    assert redact(["rk_live_abc", "pk_test_Z9"]) == ["rk_live_***", "pk_test_***"]
    assert redact({"api_key": ""}) == {"api_key": ""}
