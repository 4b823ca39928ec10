"""The runner's schedule: what may share the target at once, and what must run alone."""

from __future__ import annotations

from harness.runner import schedule
from scenarios import catalog, get


def test_faults_and_crashes_run_alone_browser_runs_in_one_thread() -> None:
    items = [(scenario, 0) for scenario in catalog()]
    alone, browser, shared = schedule(items)
    assert sorted(alone + browser + shared) == list(range(len(items)))

    def ids(indexes: list[int]) -> set[str]:
        return {items[i][0].id for i in indexes}

    assert "process.kill_after_charge" in ids(alone)
    assert "provider.lost_response" in ids(alone)
    # a browser scenario that arms a provider fault must run alone too
    assert "browser.reload_in_flight_ssr" in ids(alone)
    assert "browser.double_click_ssr" in ids(browser)
    assert {"api.parallel_same_key", "webhooks.duplicate"} <= ids(shared)
    for index in shared:
        needs = items[index][0].needs
        assert not needs & {"provider_faults", "process", "browser"}


def test_repeats_are_scheduled_one_by_one() -> None:
    scenario = get("api.same_key_sequential")
    alone, browser, shared = schedule([(scenario, 0), (scenario, 1)])
    assert (alone, browser, shared) == ([], [], [0, 1])
