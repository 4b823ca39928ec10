"""Browser runs side by side in one Chromium, each in browser contexts of its own.

Real processes throughout: Chromium, the reference checkout and the fake provider. A
barrier proves the overlap: each run waits at its start for the other, so runs carried
out one after another would time out instead of passing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import _shared_chromium
from harness._browsing import BrowserSession
from harness._shared_chromium import Endpoint, browser_pid
from harness._testing import missing
from harness.browser import find_chromium
from harness.profile import load_profile
from harness.reports import RunReport, ScenarioRun
from harness.runner import Runner, RunOptions
from harness.target import REFERENCE_PROFILE, Target, open_target
from scenarios import get

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IDS = ("browser.two_tabs_ssr", "browser.back_forward_ssr")


@pytest.fixture(scope="module")
def chromium() -> None:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())


def test_an_attached_thread_drives_the_same_chromium_in_contexts_of_its_own(
    chromium: None,
) -> None:
    host = BrowserSession.launch(shared=True)
    assert host.endpoint is not None
    barrier = threading.Barrier(2, timeout=30)
    seen: dict[str, Any] = {}

    def helper() -> None:
        session = host.attach()
        try:
            context = session.browser.new_context()
            context.add_cookies([{"name": "who", "value": "helper", "url": "http://shop.test/"}])
            barrier.wait()  # both contexts exist now, in two Playwright instances
            barrier.wait()  # the host has read its cookies
            seen["helper_cookies"] = [c["value"] for c in context.cookies()]
            seen["helper_pid"] = browser_pid(session.browser)
        finally:
            session.close()

    thread = threading.Thread(target=helper)
    thread.start()
    try:
        context = host.browser.new_context()
        context.add_cookies([{"name": "who", "value": "host", "url": "http://shop.test/"}])
        barrier.wait()
        seen["host_cookies"] = [c["value"] for c in context.cookies()]
        barrier.wait()
        thread.join(30)
        seen["host_pid"] = browser_pid(host.browser)
    finally:
        host.close()
    assert seen["host_cookies"] == ["host"]
    assert seen["helper_cookies"] == ["helper"]
    assert seen["helper_pid"] == seen["host_pid"] == host.endpoint.pid


def test_attaching_to_another_browser_is_refused(chromium: None) -> None:
    host = BrowserSession.launch(shared=True)
    try:
        assert host.endpoint is not None
        wrong = Endpoint(host.endpoint.url, pid=host.endpoint.pid + 1)
        failed: list[str] = []

        def helper() -> None:
            try:
                _shared_chromium.attach(wrong)
            except RuntimeError as exc:
                failed.append(str(exc))

        thread = threading.Thread(target=helper)
        thread.start()
        thread.join(30)
    finally:
        host.close()
    assert failed and "not the Chromium this run launched" in failed[0]


@pytest.fixture(scope="module")
def target(chromium: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    live = open_target(load_profile(REFERENCE_PROFILE), tmp_path_factory.mktemp("shared"))
    try:
        yield live
    finally:
        live.stop()


def _overlapping_run(
    target: Target, out: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunReport, list[int]]:
    """Run :data:`IDS` with two browser workers; each run waits for the other at its start.
    Returns the report and the browser process id every attached session saw."""
    barrier = threading.Barrier(len(IDS), timeout=60)
    real_execute = Runner._execute
    pids: list[int] = []
    real_attach: Callable[[Endpoint], Any] = _shared_chromium.attach

    def execute(self: Runner, scenario: Any, repeat: int, index: int, **how: Any) -> Any:
        barrier.wait()  # raises BrokenBarrierError if the other run is not going on too
        return real_execute(self, scenario, repeat, index, **how)

    def attach(endpoint: Endpoint) -> Any:
        playwright, browser = real_attach(endpoint)
        pids.append(browser_pid(browser))
        return playwright, browser

    monkeypatch.setattr(Runner, "_execute", execute)
    monkeypatch.setattr(_shared_chromium, "attach", attach)
    options = RunOptions(jobs=2, browser_jobs=2, race_repeat=1)
    runner = Runner(target, out, options)
    report = runner.run([get(i) for i in IDS])
    return report, pids


def _span(run: ScenarioRun) -> tuple[float, float]:
    times = [run.started_wall + op["time_ns"] / 1e9 for op in run.history]
    return min(times), max(times)


def test_two_browser_scenarios_overlap_and_both_pass(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, pids = _overlapping_run(target, tmp_path, monkeypatch)
    runs = {run.scenario_id: run for run in report.runs}
    for sid in IDS:
        run = runs[sid]
        assert run.status == "passed", (sid, run.reason)
        read = next(op for op in run.history if op["f"] == "ledger_read" and op["type"] == "ok")
        assert read["value"]["ambiguous"] == [] and read["value"]["strays"] == []
        charges = [row for row in run.ledger if row.get("kind") == "charge"]
        field = target.profile.provider.business_key
        assert len(charges) == 1 and charges[0]["metadata"][field] in run.business_keys
    (a_start, a_end), (b_start, b_end) = (_span(runs[sid]) for sid in IDS)
    assert a_start < b_end and b_start < a_end, "the two runs did not overlap"
    assert len(pids) == 1, "one helper thread attaches once"
    assert report.environment.chromium is not None


def test_no_chromium_is_launched_for_browser_runs_that_cannot_run(
    target: Target, tmp_path: Path
) -> None:
    why = "no Chromium could be found (a test says so)"
    unavailable = {"browser": why, "browser_spa": why}
    runner = Runner(target, tmp_path, RunOptions(browser_jobs=2), unavailable=unavailable)
    report = runner.run([get(i) for i in IDS])
    assert [(r.status, r.reason) for r in report.runs] == [("not_applicable", why)] * len(IDS)
    assert report.environment.chromium is None  # never launched
