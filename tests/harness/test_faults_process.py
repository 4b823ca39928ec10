"""The process fault against a real uvicorn subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from harness._process import free_port
from harness.faults.process import ProcessFault, ProcessFaultError
from harness.history import History

HERE = str(Path(__file__).resolve().parent)


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "_apps:create_app",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def _fault(tmp_path: Path, history: History | None = None) -> ProcessFault:
    port = free_port()
    path = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH", "")) if p)
    return ProcessFault(
        _uvicorn(port),
        f"http://127.0.0.1:{port}/healthz",
        history,
        env={"PYTHONPATH": path},
        log_path=tmp_path / "target.log",
    )


def test_kill_and_restart(tmp_path: Path) -> None:
    history = History()
    fault = _fault(tmp_path, history)
    base = fault.health_url.removesuffix("/healthz")
    with fault:
        httpx.post(base + "/api/pay")
        assert httpx.get(base + "/stats").json()["counts"] == {"POST /api/pay": 1}
        first_pid = fault.proc.pid if fault.proc else None
        fault.kill()
        assert not fault.running and fault.proc is not None and fault.proc.returncode == -9
        with pytest.raises(httpx.ConnectError):
            httpx.get(fault.health_url, timeout=1)
        fault.restart()
        assert fault.running and fault.starts == 2 and fault.proc.pid != first_pid
        # A fresh process: its in-memory state died with the old one.
        assert httpx.get(base + "/stats").json()["counts"] == {}
    assert not fault.running
    assert [(o.type, o.f, o.process) for o in history.ops] == [
        ("invoke", "start_fault", "nemesis"),
        ("ok", "start_fault", "nemesis"),
        ("invoke", "stop_fault", "nemesis"),
        ("ok", "stop_fault", "nemesis"),
    ]
    assert history.ops[1].value["signal"] == "SIGKILL" and history.ops[1].value["pid"] == first_pid


def test_kill_with_nothing_running_is_recorded_as_info(tmp_path: Path) -> None:
    history = History()
    fault = _fault(tmp_path, history)
    with pytest.raises(ProcessFaultError, match="nothing to kill"):
        fault.kill()
    assert [o.type for o in history.ops] == ["invoke", "info"]


def test_kill_cmd_for_targets_started_elsewhere(tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    fault = ProcessFault(["true"], "http://127.0.0.1:1/", kill_cmd=["touch", str(marker)])
    fault.kill()
    assert marker.exists()
    failing = ProcessFault(["true"], "http://127.0.0.1:1/", kill_cmd=["false"])
    with pytest.raises(ProcessFaultError, match="kill command"):
        failing.kill()


def test_a_target_that_dies_at_start_is_reported(tmp_path: Path) -> None:
    fault = ProcessFault(
        [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
        f"http://127.0.0.1:{free_port()}/healthz",
        log_path=tmp_path / "log",
        startup_timeout=10,
    )
    with pytest.raises(ProcessFaultError, match=r"exited with code 3(.|\n)*boom"):
        fault.start()
    with pytest.raises(ProcessFaultError, match="cannot run"):
        ProcessFault(["/no/such/binary"], "http://127.0.0.1:1/").start()
    with pytest.raises(ValueError, match="non-empty"):
        ProcessFault([], "http://127.0.0.1:1/")
