"""The flaw switch: validated, loud, visible in /healthz, each flaw in one marked place."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from reference_app import flaws
from reference_app.app import create_app
from reference_app.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "reference_app"


def _healthz(app: FastAPI) -> object:
    async def get() -> object:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return (await client.get("/healthz")).json()

    return asyncio.run(get())


def test_unknown_flaw_is_one_line_naming_variable_value_and_allowed_names() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"NODOUBLE_FLAW": "skip_everything", "NODOUBLE_SESSION_SECRET": "s"})
    message = str(caught.value)
    assert message.startswith("NODOUBLE_FLAW='skip_everything' is invalid: unknown flaw; allowed:")
    assert "\n" not in message
    for name in flaws.names():
        assert name in message


@pytest.mark.parametrize("value", ["", "none", "no_prg", "check_then_insert"])
def test_known_values_are_accepted(value: str) -> None:
    settings = Settings.from_env({"NODOUBLE_FLAW": value, "NODOUBLE_SESSION_SECRET": "s"})
    assert settings.flaw == value


def test_every_flaw_lives_in_one_marked_place() -> None:
    sources = {
        path: path.read_text(encoding="utf-8")
        for path in APP.rglob("*")
        if path.suffix in {".py", ".js", ".html"} and path.name != "flaws.py"
    }
    for name, flaw in flaws.FLAWS.items():
        marked = [p for p, text in sources.items() if f"FLAW({name})" in text]
        where = ROOT / flaw.where.split(":")[0]
        assert where in marked, f"{name}: no FLAW({name}) marker in {where}"
        switched = [p for p, text in sources.items() if re.search(rf'"{name}"\)', text)]
        assert switched == [where], f"{name} is switched on in {switched}, not only {where}"
        assert flaw.guard and "\n" not in flaw.guard


def test_active_rejects_a_misspelt_flaw() -> None:
    with pytest.raises(KeyError):
        flaws.active("no_prg", "no_prgg")
    assert flaws.active("no_prg", "no_prg") and not flaws.active("", "no_prg")


def test_a_flawed_app_warns_loudly_and_says_so_in_healthz(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.build(
        database_url=f"sqlite:///{tmp_path / 'f.sqlite3'}",
        session_secret="s",
        flaw="no_provider_key",
        reconcile_interval_seconds=0,
        provider_url="http://127.0.0.1:9",
    )
    with caplog.at_level(logging.WARNING, logger="reference_app"):
        app = create_app(settings)
    assert any("DELIBERATE FLAW ON: NODOUBLE_FLAW=no_provider_key" in r.message
               for r in caplog.records)  # fmt: skip
    assert _healthz(app) == {"status": "ok", "flaw": "no_provider_key"}


def test_the_real_app_reports_no_flaw(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.build(
        database_url=f"sqlite:///{tmp_path / 'ok.sqlite3'}", session_secret="s",
        reconcile_interval_seconds=0, provider_url="http://127.0.0.1:9",
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="reference_app"):
        app = create_app(settings)
    assert not any("DELIBERATE FLAW" in r.message for r in caplog.records)
    assert _healthz(app) == {"status": "ok", "flaw": None}
