"""The report model and its four renderings; the limits middleware; the reaper; the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import sqlalchemy as sa
from typer.testing import CliRunner

from harness.cli import app as cli
from harness.torture._figures import SectionResult, TortureReport, write
from reference_app import db, migrate
from reference_app.app import create_app
from reference_app.config import Settings
from reference_app.limits import MAX_BODY_BYTES
from reference_app.models import IdempotencyKey, utcnow
from reference_app.reaper import reap


def _report() -> TortureReport:
    held = SectionResult("crash", "postgresql", figures={"double_charges": 0})
    held.expect("no double charge", True)
    broken = SectionResult("webhooks", "sqlite", figures={"forged_rejected": 2})
    broken.expect("forged rejected", False, "evt_forged_1 answered 200")
    crashed = SectionResult("fuzz", "sqlite", error="RuntimeError: boom")
    skipped = SectionResult("database", "sqlite", applicable=False)
    return TortureReport(
        "nodouble torture --scale quick", "quick", results=[held, broken, crashed, skipped]
    )


def test_verdicts() -> None:
    report = _report()
    assert [r.verdict for r in report.results] == ["held", "broken", "unknown", "not applicable"]
    assert not report.held
    assert SectionResult("x", "sqlite").verdict == "unknown"  # checked nothing: proves nothing


def test_write_produces_four_files_with_the_evidence(tmp_path: Path) -> None:
    out = write(_report(), tmp_path / "r")
    data = json.loads((out / "torture.json").read_text())
    assert data["held"] is False
    assert data["sections"][1]["verdict"] == "broken"
    assert "evt_forged_1 answered 200" in (out / "torture.md").read_text()
    page = (out / "torture.html").read_text()
    assert (
        "evt_forged_1" in page and "<script" not in page and "http" not in page.split("<body>")[0]
    )
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "1" and suite.get("errors") == "1"
    assert suite.get("skipped") == "1"


def test_cli_refuses_an_unknown_section_or_database() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["torture", "--section", "nope"])
    assert bad.exit_code == 2 and "--section 'nope' is invalid" in bad.output
    bad = runner.invoke(cli, ["torture", "--database", "oracle"])
    assert bad.exit_code == 2 and "--database 'oracle'" in bad.output


def test_oversized_body_is_413_problem(tmp_path: Path) -> None:
    import asyncio

    async def go() -> tuple[int, str, int, str]:
        settings = Settings.build(
            database_url=f"sqlite:///{tmp_path / 'limits.sqlite3'}",
            provider_url="http://127.0.0.1:9",
            session_secret="s",
            reconcile_interval_seconds=0,
        )
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            big = await client.post("/api/session", content=b"x" * (MAX_BODY_BYTES + 1))
            ok = await client.post("/api/session", json={"user": "ann"})
            return big.status_code, big.headers["content-type"], ok.status_code, big.text

    status, media, ok, text = asyncio.run(go())
    assert status == 413 and media == "application/problem+json" and ok == 200, text
    assert str(MAX_BODY_BYTES) in text


def test_reaper_removes_only_expired_unleased_keys(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'reap.sqlite3'}")
    migrate.upgrade(engine)
    sessions = db.make_sessionmaker(engine)
    now = utcnow()

    def key(name: str, expires: timedelta, leased: timedelta | None) -> IdempotencyKey:
        return IdempotencyKey(
            user_id="u", idempotency_key=name, request_method="POST", request_path="/p",
            fingerprint="f", recovery_point="finished", created_at=now, last_seen_at=now,
            expires_at=now + expires, locked_until=None if leased is None else now + leased,
        )  # fmt: skip

    with sessions() as session, session.begin():
        session.add_all(
            [
                key("expired", timedelta(seconds=-1), None),
                key("expired-lease-over", timedelta(seconds=-1), timedelta(seconds=-1)),
                key("expired-but-leased", timedelta(seconds=-1), timedelta(seconds=30)),
                key("fresh", timedelta(hours=1), None),
            ]
        )
    assert reap(sessions) == 2
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT idempotency_key FROM idempotency_keys")).scalars()
        assert sorted(left) == ["expired-but-leased", "fresh"]
    assert reap(sessions) == 0
    engine.dispose()
