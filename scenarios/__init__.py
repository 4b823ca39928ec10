"""The scenario catalog: pure descriptions of double-charge threats, no I/O.

``catalog()`` lists every scenario; ``select()`` filters by id glob and tag.
"""

from __future__ import annotations

import fnmatch

from scenarios import (
    api,
    browser,
    capture,
    hosted,
    process,
    provider,
    search_lag,
    threeds,
    webhooks,
)
from scenarios._model import BROWSER_INVARIANTS, DEFAULT_INVARIANTS, Scenario

__all__ = ["BROWSER_INVARIANTS", "DEFAULT_INVARIANTS", "Scenario", "catalog", "get", "select"]


def catalog() -> tuple[Scenario, ...]:
    everything = (
        *api.SCENARIOS,
        *provider.SCENARIOS,
        *webhooks.SCENARIOS,
        *process.SCENARIOS,
        *browser.SCENARIOS,
        *threeds.SCENARIOS,
        *capture.SCENARIOS,
        *search_lag.SCENARIOS,
        *hosted.SCENARIOS,
    )
    ids = [s.id for s in everything]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RuntimeError(f"scenario ids used twice: {sorted(duplicates)}")
    return everything


def get(scenario_id: str) -> Scenario:
    for scenario in catalog():
        if scenario.id == scenario_id:
            return scenario
    raise KeyError(scenario_id)


def select(pattern: str | None = None, tags: tuple[str, ...] = ()) -> tuple[Scenario, ...]:
    """Scenarios whose id matches the glob ``pattern`` and that carry every tag given."""
    return tuple(
        s
        for s in catalog()
        if (pattern is None or fnmatch.fnmatchcase(s.id, pattern))
        and all(tag in s.tags for tag in tags)
    )
