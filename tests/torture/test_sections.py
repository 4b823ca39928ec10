"""Each torture section at quick scale, on real processes and real databases.

The figures are asserted, not just the verdict: a section that checked nothing, or whose
fault never fired, must not pass.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.torture import run_section
from harness.torture._figures import SectionResult
from harness.torture._stack import Context

pytestmark = pytest.mark.slow
PG = pytest.param("postgresql", marks=pytest.mark.postgres, id="postgresql")
MARIADB = pytest.param("mariadb", marks=pytest.mark.mariadb, id="mariadb")
SQLITE = pytest.param("sqlite", id="sqlite")


def _held(result: SectionResult) -> SectionResult:
    evidence = [f"{e.name}: {e.evidence}" for e in result.failures]
    assert result.verdict == "held", (result.error, evidence, result.figures)
    return result


def _no_money_lost(figures: dict[str, int | float], orders: int) -> None:
    assert figures["double_charges"] == 0
    assert figures["lost_payments"] == 0
    assert figures["unsettled"] == 0
    assert figures["paid_one_charge"] + figures["failed_no_charge"] == orders


@pytest.mark.parametrize("database", [PG, SQLITE])
def test_crash_at_every_recovery_point(
    make_context: Callable[[str], Context], database: str
) -> None:
    figures = _held(run_section("crash", make_context(database))).figures
    assert figures["crashes_injected"] == 8  # 4 points x 2
    _no_money_lost(figures, 8)
    assert figures["failed_no_charge"] == 4  # the declining card, once per point


@pytest.mark.parametrize("database", [PG, MARIADB])
def test_database_faults(make_context: Callable[[str], Context], database: str) -> None:
    figures = _held(run_section("database", make_context(database))).figures
    assert figures["double_charges"] == 0 and figures["lost_payments"] == 0
    if database == "postgresql":
        assert figures["backends_terminated"] > 0
        assert figures["answers_500"] == 0
        _no_money_lost(figures, 12)
    else:
        assert figures["innodb_deadlocks"] >= 1
        assert figures["app_rolled_back"] >= 1
        _no_money_lost(figures, 6)


def test_database_section_does_not_apply_to_sqlite(
    make_context: Callable[[str], Context],
) -> None:
    result = run_section("database", make_context("sqlite"))
    assert result.verdict == "not applicable"


@pytest.mark.parametrize("database", [SQLITE])
def test_provider_faults(make_context: Callable[[str], Context], database: str) -> None:
    figures = _held(run_section("provider", make_context(database))).figures
    assert figures["faults_injected"] == 16  # 8 modes x 2 endpoints
    assert figures.get("answered_402", 0) == 0
    assert figures["answered_202"] >= 3  # at least the outage orders were "processing"
    _no_money_lost(figures, figures["fault_cases"])  # type: ignore[arg-type]


@pytest.mark.parametrize("database", [PG])
def test_webhooks(make_context: Callable[[str], Context], database: str) -> None:
    figures = _held(run_section("webhooks", make_context(database))).figures
    assert figures["events"] == 100
    assert figures["deliveries"] >= 300
    assert figures["events_recorded"] == 100
    for kind in ("wrong_secret", "changed_body", "stale", "unsigned"):
        assert figures[f"{kind}_rejected"] == figures[f"{kind}_sent"] > 0
    _no_money_lost(figures, 100)


@pytest.mark.parametrize("database", [SQLITE])
def test_fuzz(make_context: Callable[[str], Context], database: str) -> None:
    figures = _held(run_section("fuzz", make_context(database))).figures
    assert figures["schemathesis_cases"] >= 150
    assert figures.get("schemathesis_5xx", 0) == 0
    assert figures["bad_requests_4xx"] == figures["bad_requests"] >= 15
    assert figures["form_parser_inputs"] == 200


@pytest.mark.parametrize("database", [SQLITE, PG])
def test_access(make_context: Callable[[str], Context], database: str) -> None:
    figures = _held(run_section("access", make_context(database))).figures
    assert figures["csrf_refused"] == 4


@pytest.mark.parametrize("database", [SQLITE, PG])
def test_lifecycle(make_context: Callable[[str], Context], database: str) -> None:
    figures = _held(run_section("lifecycle", make_context(database))).figures
    assert figures["keys_reaped"] == figures["keys_created"] == 4
    assert figures["replays_after_expiry"] == 8
    assert figures["double_charges"] == 0 and figures["paid_one_charge"] == 3
