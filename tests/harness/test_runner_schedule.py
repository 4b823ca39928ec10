"""The runner's schedule: what may share the target at once, and what must run alone."""

from __future__ import annotations

import pytest

from harness._schedule import estimate_s, scoped, waiting_s
from harness.runner import schedule
from scenarios import Scenario, catalog, get, steps


def test_crashes_and_unscoped_faults_run_alone_scoped_faults_run_beside_others() -> None:
    items = [(scenario, 0) for scenario in catalog()]
    alone, browser, shared = schedule(items)
    assert sorted(alone + browser + shared) == list(range(len(items)))

    def ids(indexes: list[int]) -> set[str]:
        return {items[i][0].id for i in indexes}

    assert ids(alone) == {"process.kill_after_charge", "process.kill_after_charge_client_gone"}
    # faults armed after an order aim at that order's intents alone, on the provider's pages
    # too, and a search lag hides only its intents
    assert "provider.lost_response" in ids(shared)
    assert "browser.reload_in_flight_ssr" in ids(browser)
    assert {"hosted.webhook_before_redirect", "threeds.return_then_back_ssr"} <= ids(browser)
    assert "browser.double_click_ssr" in ids(browser)
    assert {"api.parallel_same_key", "webhooks.duplicate"} <= ids(shared)
    for index in shared:
        scenario = items[index][0]
        assert "process" not in scenario.needs and "browser" not in scenario.needs
        assert "provider_faults" not in scenario.needs or scoped(scenario)
    for index in alone:
        assert not scoped(items[index][0])


def test_a_fault_can_be_scoped_only_once_the_run_has_an_order() -> None:
    fault = steps.ProviderFault(mode="error_after")
    order, confirm = steps.CreateOrder(), steps.Confirm(key="k1")
    assert scoped(Scenario("x.after", "t", "t", (order, fault, confirm)))
    assert not scoped(Scenario("x.before", "t", "t", (fault, order, confirm)))
    assert not scoped(Scenario("x.none", "t", "t", (order, confirm)))
    on_page = steps.ProviderFault(mode="delay", at="hosted_page")
    assert scoped(Scenario("x.page", "t", "t", (order, on_page, confirm)))
    lag = steps.ProviderFault(mode="search_lag")
    assert not scoped(Scenario("x.lag", "t", "t", (lag, steps.BrowserCheckout(), confirm)))
    crash = (order, fault, confirm, steps.KillTarget(), steps.RestartTarget())
    assert not scoped(Scenario("x.crash", "t", "t", crash))


def test_repeats_are_scheduled_one_by_one() -> None:
    scenario = get("api.same_key_sequential")
    alone, browser, shared = schedule([(scenario, 0), (scenario, 1)])
    assert (alone, browser, shared) == ([], [], [0, 1])


def test_browser_and_shared_runs_start_longest_first() -> None:
    quick, slow, slower = (
        get("api.same_key_sequential"),
        get("api.same_key_staggered"),
        get("api.parallel_same_key"),
    )
    browser_short, browser_long = get("hosted.double_click"), get("threeds.abandoned_new_card_ssr")
    faulted = get("process.kill_after_charge")
    items = [
        (quick, 0), (browser_short, 0), (slow, 0), (faulted, 0), (slower, 0),
        (browser_long, 0), (quick, 1),
    ]  # fmt: skip
    alone, browser, shared = schedule(items)
    assert alone == [3]  # alone runs keep their order: nothing runs beside them anyway
    assert browser == [5, 1]
    assert shared == [4, 2, 0, 6]  # equal estimates keep their order


def test_the_schedule_follows_the_estimate_it_is_given() -> None:
    a, b, c = get("api.same_key_sequential"), get("api.missing_key"), get("webhooks.duplicate")
    made_up = {a.id: 1.0, b.id: 3.0, c.id: 2.0}
    _, _, shared = schedule([(a, 0), (b, 0), (c, 0)], estimate=lambda s: made_up[s.id])
    assert shared == [1, 2, 0]


def test_the_estimate_reads_waits_bursts_and_rounds() -> None:
    one_confirm = estimate_s(get("api.same_key_sequential"))
    # five rounds of a 20-request burst cost more than one confirm and one replay
    assert estimate_s(get("api.parallel_same_key")) > 5 * one_confirm
    sleeper = Scenario("x.sleep", "t", "t", (steps.Sleep(ms=2_000),))
    assert estimate_s(sleeper) == pytest.approx(2.0)
    twice = Scenario("x.sleep2", "t", "t", (steps.Sleep(ms=2_000),), rounds=2)
    assert estimate_s(twice) == pytest.approx(4.0)
    assert estimate_s(get("browser.double_click_ssr")) > estimate_s(get("api.missing_key"))
    # a hold lasts until the checkout gives up, not the fault's upper limit
    hold = get("provider.timeout_after_charge")
    assert max(f.delay_ms for f in hold.steps if isinstance(f, steps.ProviderFault)) > 10_000
    assert estimate_s(hold) < 5.0


def test_a_run_that_mostly_waits_starts_before_a_longer_busy_one() -> None:
    """A sleep or a slow provider lasts as long as it says however busy the cores are: such
    a run goes first, beside the bursts, instead of ending the run alone after them."""
    waits, busy = get("api.retry_while_in_flight"), get("api.parallel_same_key")
    assert waiting_s(waits) == pytest.approx(4.5)  # a 2 s slow provider, a 2.5 s sleep
    assert waiting_s(busy) == 0.0
    assert estimate_s(busy) > estimate_s(waits)
    _, _, shared = schedule([(busy, 0), (waits, 0), (busy, 1)])
    assert shared == [1, 0, 2]
    sleeper = Scenario("x.sleep", "t", "t", (steps.Sleep(ms=1_000),), rounds=3)
    assert waiting_s(sleeper) == pytest.approx(estimate_s(sleeper)) == pytest.approx(3.0)
    # without the waits counted twice, the longer busy run would start first
    _, _, plain = schedule([(busy, 0), (waits, 0)], waiting=lambda scenario: 0.0)
    assert plain == [0, 1]


def test_an_order_made_while_a_fault_is_armed_keeps_the_run_alone() -> None:
    """A scoped fault holds the business keys of the orders made before it: one made after
    it is out of its reach, so the fault meant for that order's payment would pass it by
    (and could fire on another call of an earlier order instead, a different story)."""
    fault = steps.ProviderFault(mode="error_after")
    first, second = steps.CreateOrder(), steps.CreateOrder(order="o2")
    pay_second = steps.Confirm(key="k2", order="o2")
    story = (first, fault, second, pay_second)
    assert not scoped(Scenario("x.late_order", "t", "t", story))
    cleared = (first, fault, steps.Confirm(key="k1"), steps.ClearProviderFaults(), second)
    assert scoped(Scenario("x.cleared", "t", "t", (*cleared, pay_second)))
    rearmed = (*cleared, steps.ProviderFault(mode="error_after"), pay_second)
    assert scoped(Scenario("x.rearmed", "t", "t", rearmed))
