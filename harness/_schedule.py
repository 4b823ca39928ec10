"""Which scenario runs may share the target at once, and in what order they start.

Three kinds of run:

- ``alone``: they kill the target, or arm a provider fault before they have an order (one
  that every concurrent run would feel) or make an order while one is armed, so each runs
  with nothing else going on, in catalog order;
- ``browser``: they drive Chromium; up to ``browser_jobs`` of them overlap, each in browser
  contexts of its own (:mod:`harness._shared_chromium`);
- ``shared``: API and webhook scenarios, which touch only their own orders, keys, users and
  proxy; up to ``jobs`` of them overlap, beside the browser ones.

A run that arms provider faults only after it created an order is *scoped*
(:func:`scoped`): each fault aims at that run's intents alone (the fake matches their
metadata against the business keys of the run's orders), so it joins ``browser`` or
``shared``. Should a scoped fault on money never act, or the run's charges carry no
business key of its orders (a checkout that does not label its intents), the runner tries
the run again alone, unscoped.

Within ``browser`` and ``shared`` the longest runs start first (:func:`estimate_s`), so the
last worker to finish is not the one that drew a long run at the end. A run's waits on
purpose (:func:`waiting_s`: sleeps, slow or holding provider faults) count twice there: a
wait lasts as long as it says however busy the cores are, and costs them nothing, so a run
that mostly waits is best started early, beside the busy ones. Measured on the API-only
catalog (2 cores): a run that waits 4.5 s (a 2 s slow provider, a 2.5 s sleep) started
after the CPU-bound bursts and ended the whole run alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from scenarios import Scenario
from scenarios import steps as s

EXCLUSIVE_NEEDS = frozenset({"provider_faults", "process"})
"""Scenarios that change shared state (the provider's faults, the target process) run alone,
unless their faults can be scoped (:func:`scoped`)."""
ORDER_STEPS = (s.CreateOrder, s.BrowserCheckout)
"""Steps after which the run has an order, whose business key can scope a fault."""


def scoped(scenario: Scenario) -> bool:
    """Whether every provider fault of ``scenario`` can aim at its own intents only: it
    arms each after a step that created an order, makes no order while a fault is armed
    (a fault's scope is the orders made before it), and never kills the target."""
    if "provider_faults" not in scenario.needs or "process" in scenario.needs:
        return False
    has_order, armed = False, False
    for step in scenario.steps:
        if isinstance(step, ORDER_STEPS):
            if armed:
                return False
            has_order = True
        if isinstance(step, s.ProviderFault):
            if not has_order:
                return False
            armed = True
        armed = armed and not isinstance(step, s.ClearProviderFaults)
    return True


DEFAULT_JOBS = 8
"""API and webhook runs that overlap by default (``--jobs``): most of their time is spent
waiting on purpose (provider delays, holds, reconcile windows), so more of them than cores
pay off (API-only catalog on 2 cores: 32-35 s with 4, 26.5 s with 8)."""
DEFAULT_BROWSER_JOBS = 2
"""Browser runs that overlap by default (``--browser-jobs``), sized for a 2-core machine
where they share the cores with the API runs beside them (3 measured no better)."""

STEP_S = 0.1
"""What an ordinary step (one request) is taken to cost, in seconds."""
BROWSER_STEP_S = 0.4
"""What a browser step (a navigation or a click and the page it leads to) is taken to cost."""
BROWSER_START_S = 0.5
"""A browser run's own contexts and first page."""
BURST_REQUEST_S = 0.05
"""One request of a barrier-released burst (they queue at the checkout)."""
RECONCILE_S = 0.4
RESTART_S = 1.5
HOLD_S = 3.0
"""A holding fault (``hang_after``) lasts until the checkout gives up on the provider: a
few seconds for a typical client timeout, whatever the fault's upper limit."""


def estimate_s(scenario: Scenario) -> float:
    """A rough duration of one run, read from the scenario's steps (no I/O, no history):
    enough to start long runs before short ones, not a prediction."""
    per_round = sum(_step_s(step) for step in scenario.steps)
    start = BROWSER_START_S if "browser" in scenario.needs else 0.0
    return start + per_round * max(1, scenario.rounds)


def waiting_s(scenario: Scenario) -> float:
    """The part of :func:`estimate_s` that the run spends waiting on purpose."""
    per_round = sum(_step_s(step) for step in scenario.steps if _waits(step))
    return per_round * max(1, scenario.rounds)


def _waits(step: s.Step) -> bool:
    if isinstance(step, s.Sleep):
        return True
    if isinstance(step, s.ProviderFault) and step.mode == "hang_after":
        return True
    return isinstance(step, s.ProviderFault | s.NetworkFault) and bool(step.delay_ms)


def _step_s(step: s.Step) -> float:
    if isinstance(step, s.Sleep):
        return step.ms / 1000
    if isinstance(step, s.Burst):
        return BURST_REQUEST_S * step.n + step.stagger_ms * step.n / 1000
    if isinstance(step, s.ProviderFault) and step.mode == "hang_after":
        return min(step.delay_ms / 1000, HOLD_S) if step.delay_ms else HOLD_S
    if isinstance(step, s.ProviderFault | s.NetworkFault):
        return step.delay_ms / 1000 if step.delay_ms else STEP_S
    if isinstance(step, s.Reconcile):
        return RECONCILE_S
    if isinstance(step, s.KillTarget | s.RestartTarget):
        return RESTART_S
    if "browser" in step.needs:
        return BROWSER_STEP_S
    return STEP_S


def schedule(
    items: Sequence[tuple[Scenario, int]],
    estimate: Callable[[Scenario], float] = estimate_s,
    waiting: Callable[[Scenario], float] = waiting_s,
) -> tuple[list[int], list[int], list[int]]:
    """Split run indexes into (alone, browser, shared); see the module docstring. ``alone``
    keeps the order of ``items``; ``browser`` and ``shared`` are longest first, waits
    counted twice (ties keep the order of ``items``)."""
    alone: list[int] = []
    browser: list[int] = []
    shared: list[int] = []
    for index, (scenario, _) in enumerate(items):
        if scenario.needs & EXCLUSIVE_NEEDS and not scoped(scenario):
            alone.append(index)
        elif "browser" in scenario.needs:
            browser.append(index)
        else:
            shared.append(index)

    def longest_first(indexes: list[int]) -> list[int]:
        return sorted(indexes, key=lambda i: -estimate(items[i][0]) - waiting(items[i][0]))

    return alone, longest_first(browser), longest_first(shared)
