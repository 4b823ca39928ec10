"""Process faults: a nemesis that SIGKILLs the checkout and starts it again.

For targets that declare how to run them (a start command as an argv list, its
environment and working directory, and a health URL), :class:`ProcessFault` starts the
target in its own process group, kills the whole group with SIGKILL (no graceful shutdown,
no finishing of in-flight requests: a crash), and restarts it, waiting until the health
URL answers. ``kill`` records ``start_fault``; ``restart`` records ``stop_fault``.
Targets the harness did not start itself can declare a ``kill_cmd`` instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness._tls import tls_context
from harness.faults._record import NEMESIS, record
from harness.history import History, Op


class ProcessFaultError(RuntimeError):
    """The target could not be started, killed or brought back to health."""


class ProcessFault:
    """Start, SIGKILL and restart one target process (group)."""

    def __init__(
        self,
        start_cmd: Sequence[str],
        health_url: str,
        history: History | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        kill_cmd: Sequence[str] | None = None,
        startup_timeout: float = 30.0,
        log_path: Path | None = None,
        process: str = NEMESIS,
    ) -> None:
        if not start_cmd:
            raise ValueError("start_cmd must be a non-empty argv list")
        self.start_cmd = list(start_cmd)
        self.health_url = health_url
        self.history = history
        self.env = dict(env or {})
        self.cwd = cwd
        self.kill_cmd = list(kill_cmd) if kill_cmd else None
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self.process_name = process
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ProcessFault:
        """Launch the target and wait for its health URL."""
        if self.running:
            raise ProcessFaultError("the target is already running")
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.start_cmd,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                stdout=log if log is not None else subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessFaultError(f"cannot run {self.start_cmd[0]!r}: {exc}") from exc
        finally:
            if log is not None:
                log.close()
        self.starts += 1
        try:
            self.wait_healthy()
        except ProcessFaultError:
            if self.running:
                self._kill()
            raise
        return self

    def wait_healthy(self, timeout: float | None = None) -> float:
        """Poll the health URL until it answers below 500; returns the seconds waited."""
        limit = self.startup_timeout if timeout is None else timeout
        started = time.monotonic()
        last = "no attempt"
        while time.monotonic() - started < limit:
            if self.proc is not None and self.proc.poll() is not None:
                raise ProcessFaultError(
                    f"{self.start_cmd!r} exited with code {self.proc.returncode} before it was "
                    f"healthy{self._log_tail()}"
                )
            try:
                status = httpx.get(self.health_url, timeout=1.0, verify=tls_context()).status_code
                if status < 500:
                    return time.monotonic() - started
                last = f"HTTP {status}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise ProcessFaultError(
            f"{self.health_url} not healthy after {limit}s (last: {last}){self._log_tail()}"
        )

    def kill(self) -> Op | None:
        """SIGKILL the target's process group; records ``start_fault``."""
        return record(self.history, self.process_name, "start_fault", {"fault": "kill"}, self._kill)

    def restart(self) -> Op | None:
        """Start the target again and wait for health; records ``stop_fault``."""

        def bring_back() -> dict[str, Any]:
            if self.running:
                self._kill()
            self.start()
            return {"pid": self.proc.pid if self.proc else None, "starts": self.starts}

        return record(self.history, self.process_name, "stop_fault", {"fault": "kill"}, bring_back)

    def stop(self) -> None:
        """Shut the target down politely (SIGTERM, then SIGKILL after 10 s); not a fault."""
        if not self.running or self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self._kill()

    def __enter__(self) -> ProcessFault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _kill(self) -> dict[str, Any]:
        if self.running and self.proc is not None:
            pid = self.proc.pid
            os.killpg(pid, signal.SIGKILL)
            self.proc.wait(10)
            return {"pid": pid, "signal": "SIGKILL", "returncode": self.proc.returncode}
        if self.kill_cmd:
            result = subprocess.run(self.kill_cmd, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise ProcessFaultError(
                    f"kill command {self.kill_cmd!r} failed ({result.returncode}): "
                    f"{(result.stderr or result.stdout).strip()[-500:]}"
                )
            return {"kill_cmd": self.kill_cmd, "returncode": result.returncode}
        raise ProcessFaultError("nothing to kill: the target is not running and has no kill_cmd")

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace")[-2000:]
        return f"\n--- log tail ({self.log_path}) ---\n{tail}"
