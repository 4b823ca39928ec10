"""What a run leaves armed on the provider when it ends.

A run whose provider faults are unscoped runs alone, so at its end it clears every fault,
also one it asked for without learning its id (the provider's answer lost): that fault
may be armed and would reach the runs after it, side by side ones included. A run that
asked for no fault clears nothing, and a scoped run removes only its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import scenarios.steps as s
from harness._process import ServerProcess
from harness.faults.provider import FaultError
from harness.history import History
from harness.interpreter import Interpreter, StepError
from harness.profile import load_profile
from harness.target import Target

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as fake:
        yield fake.url


def _interp(fake_url: str, tmp_path: Path, *, scoped: bool) -> Interpreter:
    httpx.post(f"{fake_url}/_fake/reset").raise_for_status()
    profile = load_profile(ROOT / "targets" / "reference.toml")
    target = Target(profile, "http://127.0.0.1:9", fake_url)  # the shop is never called
    return Interpreter(target, History(), tmp_path, "run-cleanup", scoped=scoped)


def _armed(fake_url: str) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = httpx.get(f"{fake_url}/_fake/faults").json()["data"]
    return faults


def _lose_the_answer(interp: Interpreter) -> None:
    """The provider arms the fault, and its answer never reaches the harness."""
    send = interp.provider_faults._send

    def lost(method: str, body: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        send(method, body, **kw)
        if method == "POST":
            raise FaultError("fake provider unreachable: read timed out")
        return {}

    interp.provider_faults._send = lost  # type: ignore[method-assign]


def test_an_unscoped_fault_whose_answer_was_lost_is_cleared_at_the_end(
    fake_url: str, tmp_path: Path
) -> None:
    interp = _interp(fake_url, tmp_path, scoped=False)
    _lose_the_answer(interp)
    with pytest.raises(FaultError):
        interp.provider_fault(s.ProviderFault(mode="error_after", status=500))
    assert len(_armed(fake_url)) == 1  # armed, though the run never learnt its id
    del interp.provider_faults._send  # the provider answers again
    interp.close()
    assert _armed(fake_url) == []


def test_a_run_that_asked_for_no_fault_leaves_the_others_armed(
    fake_url: str, tmp_path: Path
) -> None:
    interp = _interp(fake_url, tmp_path, scoped=False)
    other = {"mode": "delay", "endpoint": "money", "metadata": {"order_id": ["theirs"]}}
    httpx.post(f"{fake_url}/_fake/faults", json=other).raise_for_status()
    interp.close()
    assert len(_armed(fake_url)) == 1


def test_a_scoped_run_removes_its_own_faults_only(fake_url: str, tmp_path: Path) -> None:
    interp = _interp(fake_url, tmp_path, scoped=True)
    other = {"mode": "delay", "endpoint": "money", "metadata": {"order_id": ["theirs"]}}
    httpx.post(f"{fake_url}/_fake/faults", json=other).raise_for_status()
    with pytest.raises(StepError, match="order created before"):
        interp.provider_fault(s.ProviderFault(mode="error_after", status=500))
    interp.state.orders["o"] = "mine"
    interp.provider_fault(s.ProviderFault(mode="error_after", status=500))
    assert len(_armed(fake_url)) == 2
    interp.close()
    [left] = _armed(fake_url)
    assert left["metadata"] == {"order_id": ["theirs"]}
