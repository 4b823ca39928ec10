"""The processing time of calls that move money: where it is set and how bad values fail."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fake_provider._provider import DEFAULT_PROCESSING_MS
from fake_provider.app import config_from_env
from harness.cli import app


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "60001", ""])
def test_bad_processing_ms_is_one_line_exit_2(value: str) -> None:
    result = CliRunner().invoke(app, ["provider", "--port", "0", "--processing-ms", value])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--processing-ms" in lines[0] and repr(value) in lines[0]


def test_the_module_server_refuses_a_bad_processing_ms() -> None:
    command = [sys.executable, "-m", "fake_provider.server", "--port", "0", "--processing-ms", "x"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--processing-ms" in done.stderr and "Traceback" not in done.stderr


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODOUBLE_FAKE_PROCESSING_MS", raising=False)
    assert config_from_env().processing_ms == DEFAULT_PROCESSING_MS == 10
    monkeypatch.setenv("NODOUBLE_FAKE_PROCESSING_MS", "350")
    assert config_from_env().processing_ms == 350
    monkeypatch.setenv("NODOUBLE_FAKE_PROCESSING_MS", "soon")
    with pytest.raises(SystemExit, match="NODOUBLE_FAKE_PROCESSING_MS must be a whole number"):
        config_from_env()
