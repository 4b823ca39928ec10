"""End to end: the runner against a checkout it has never seen, correct and broken.

``_broken_shop`` has its own API shape (carts, ``X-Request-Id``, a login cookie). The
correct shop must pass the API scenarios and be ``not_applicable`` (never passed) for
what it does not declare; each broken variant must FAIL the scenarios aimed at its bug,
with evidence that names the double-charged cart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _broken_shop import start_shop, write_profile

from harness._process import ServerProcess
from harness.profile import load_profile
from harness.reports import ScenarioRun
from harness.runner import Runner, RunOptions
from harness.target import Target, open_target
from scenarios import Scenario, get, select
from scenarios.steps import Confirm, CreateOrder, ReadOrder, Reconcile

API_IDS = [s.id for s in select("api.*")]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    logs = tmp_path_factory.mktemp("provider")
    with ServerProcess("fake_provider.app:create_app", log_path=logs / "provider.log") as server:
        yield server


def _target(
    provider: ServerProcess,
    tmp: Path,
    broken: str,
    template: str = "shop",
    metadata_key: str = "order_id",
) -> Iterator[Target]:
    shop = start_shop(provider.url, broken, log_dir=tmp, metadata_key=metadata_key)
    try:
        path = write_profile(
            tmp / f"{template}.toml", base_url=shop.url, provider_url=provider.url,
            name=f"shop-{broken or 'correct'}", template=template,
        )  # fmt: skip
        target = open_target(load_profile(path), tmp)
        yield target
        target.stop()
    finally:
        shop.stop()


@pytest.fixture(scope="module")
def correct(provider: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    yield from _target(provider, tmp_path_factory.mktemp("correct"), "")


@pytest.fixture(scope="module")
def no_idempotency(
    provider: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    yield from _target(provider, tmp_path_factory.mktemp("noidem"), "no_idempotency")


@pytest.fixture(scope="module")
def forgetful(
    provider: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    yield from _target(provider, tmp_path_factory.mktemp("forgetful"), "forgetful")


@pytest.fixture(scope="module")
def racy(provider: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    yield from _target(provider, tmp_path_factory.mktemp("race"), "race")


def _run(
    target: Target, tmp: Path, ids: list[str], repeat: int = 1
) -> dict[str, list[ScenarioRun]]:
    runner = Runner(target, tmp, RunOptions(repeat=repeat, race_repeat=1))
    report = runner.run([get(i) for i in ids])
    assert report.target.name == target.profile.name
    runs: dict[str, list[ScenarioRun]] = {}
    for run in report.runs:
        runs.setdefault(run.scenario_id, []).append(run)
    return runs


def _violation(run: ScenarioRun, name: str) -> dict[str, object]:
    check = next(c for c in run.checks if c.name == name)
    assert check.valid is False, f"{run.scenario_id}: {name} is {check.valid}: {check.message}"
    assert check.first is not None and check.worst is not None
    return check.first


def _assert_double_charge_evidence(run: ScenarioRun) -> None:
    first = _violation(run, "at_most_one_charge")
    order = first["order_id"]
    # the evidence names a cart this very run created, and the ledger rows agree
    assert order in run.business_keys
    charges = first["charges"]
    assert isinstance(charges, list) and len(charges) >= 2
    ledger_charges = [
        r["id"] for r in run.ledger
        if r["kind"] == "charge" and r["metadata"].get("order_id") == order  # type: ignore[union-attr]
    ]  # fmt: skip
    assert sorted(ledger_charges) == sorted(charges)


def test_correct_shop_passes_every_api_scenario(correct: Target, tmp_path: Path) -> None:
    runs = _run(correct, tmp_path, API_IDS)
    for scenario_id, (run,) in runs.items():
        assert run.status == "passed", (
            f"{scenario_id}: {run.reason} {[c.message for c in run.checks]}"
        )
        assert run.checks and all(c.valid is True for c in run.checks)
        assert run.business_keys, f"{scenario_id} created no cart"
    # the burst really produced one charge per cart, five rounds of it
    burst = runs["api.parallel_same_key"][0]
    assert len(burst.business_keys) == 5
    assert sum(1 for r in burst.ledger if r["kind"] == "charge") == 5


def test_correct_shop_with_header_auth_passes(provider: ServerProcess, tmp_path: Path) -> None:
    for target in _target(provider, tmp_path, "", template="shop_headers"):
        runs = _run(target, tmp_path, ["api.same_key_sequential", "api.other_users_key"])
        assert {i: r[0].status for i, r in runs.items()} == {
            "api.same_key_sequential": "passed", "api.other_users_key": "passed",
        }  # fmt: skip


def test_undeclared_needs_are_not_applicable_never_passed(correct: Target, tmp_path: Path) -> None:
    ids = [s.id for s in (*select("webhooks.*"), *select("process.*"), *select(tags=("browser",)))]
    assert len(ids) >= 5
    runs = _run(correct, tmp_path, ids)
    for scenario_id, (run,) in runs.items():
        assert run.status == "not_applicable", scenario_id
        assert run.reason and "does not declare" in run.reason
        assert not run.checks and not run.history


def test_no_idempotency_is_caught_on_sequential_replay_and_retry(
    no_idempotency: Target, tmp_path: Path
) -> None:
    ids = ["api.same_key_sequential", "api.timeout_then_retry", "api.missing_key"]
    runs = _run(no_idempotency, tmp_path, ids)
    for scenario_id in ("api.same_key_sequential", "api.timeout_then_retry"):
        (run,) = runs[scenario_id]
        assert run.status == "failed", f"{scenario_id}: {run.reason}"
        assert run.reason is not None and "at_most_one_charge" in run.reason
        _assert_double_charge_evidence(run)
        first = _violation(run, "at_most_one_charge")
        assert first["charges"] and len(first["charges"]) == 2  # type: ignore[arg-type]
    (missing,) = runs["api.missing_key"]
    # charging a keyless request once costs nobody money: a hygiene finding, not gated
    assert missing.status == "passed" and missing.hygiene == ["missing_key_refused"]
    _violation(missing, "missing_key_refused")


def test_race_passes_sequentially_but_fails_the_burst_every_time(
    racy: Target, tmp_path: Path
) -> None:
    runs = _run(racy, tmp_path, ["api.same_key_sequential"])
    assert runs["api.same_key_sequential"][0].status == "passed"
    # two runs of five rounds each: ten independent bursts, every one must be caught
    repeated = _run(racy, tmp_path, ["api.parallel_same_key"], repeat=2)
    assert len(repeated["api.parallel_same_key"]) == 2
    for run in repeated["api.parallel_same_key"]:
        assert run.status == "failed", run.reason
        _assert_double_charge_evidence(run)
        at_most = next(c for c in run.checks if c.name == "at_most_one_charge")
        assert at_most.counts["double_charged_keys"] == len(run.business_keys) == 5
        # the worst example is the cart charged the most times
        worst = at_most.worst
        assert worst is not None
        assert len(worst["charges"]) == max(  # type: ignore[arg-type]
            sum(1 for r in run.ledger if r["kind"] == "charge"
                and r["metadata"].get("order_id") == key)  # type: ignore[union-attr]
            for key in run.business_keys
        )  # fmt: skip


BREAKS_AFTER_PAYING = Scenario(
    id="api.breaks_after_paying",
    title="Pay, then a step that cannot be carried out (an order never created is read)",
    threat="retry-after-timeout",
    steps=(CreateOrder(), Confirm(), ReadOrder(order="o2"), Reconcile(), ReadOrder()),
)
"""A story that breaks after the charge, before its own reconcile wait and read."""


def _run_one(target: Target, tmp: Path, scenario: Scenario) -> ScenarioRun:
    runner = Runner(target, tmp, RunOptions())
    try:
        return runner.run_one(scenario)
    finally:
        runner.close()


def _take_stock(run: ScenarioRun) -> list[str]:
    """The operations recorded from the break on: the harness's take-stock and its reads."""
    fs = [f"{op['process']}:{op['f']}:{op['type']}" for op in run.history]
    return fs[fs.index("harness:take_stock:invoke") :]


def test_a_story_that_breaks_after_paying_still_has_its_money_judged(
    correct: Target, forgetful: Target, tmp_path: Path
) -> None:
    fine = _run_one(correct, tmp_path, BREAKS_AFTER_PAYING)
    # the charge was judged on a read made after the reconcile wait, and it held; the run
    # still broke, so it is an error, never a pass
    assert fine.status == "error" and "used before a step created it" in (fine.reason or "")
    assert _take_stock(fine)[:5] == [
        "harness:take_stock:invoke", "nemesis:reconcile_wait:invoke",
        "nemesis:reconcile_wait:ok", "alice:read_order:invoke", "alice:read_order:ok",
    ]  # fmt: skip
    checks = {c.name: c.valid for c in fine.checks}
    assert checks["no_orphan_charge"] is True and checks["at_most_one_charge"] is True

    orphan = _run_one(forgetful, tmp_path, BREAKS_AFTER_PAYING)
    # the same break on a shop that forgets the payment: money first, the break is noted
    assert orphan.status == "failed" and orphan.failure == "money"
    assert orphan.reason is not None and orphan.reason.startswith("violated: no_orphan_charge")
    assert "the run broke: StepError" in orphan.reason
    first = _violation(orphan, "no_orphan_charge")
    assert first["order_id"] in orphan.business_keys and first["paid"] is False


FAULTED = [
    "api.same_key_staggered_slow_provider",
    "api.different_keys_while_slow",
    "api.retry_while_in_flight",
]
"""API scenarios that arm provider faults after creating their order: they run scoped."""


def test_faults_scoped_to_each_run_fire_on_that_run_while_runs_overlap(
    correct: Target, tmp_path: Path
) -> None:
    runner = Runner(correct, tmp_path, RunOptions(jobs=4, race_repeat=1))
    report = runner.run([get(i) for i in FAULTED])
    spans = []
    for run in report.runs:
        assert run.status == "passed", f"{run.scenario_id}: {run.reason}"
        assert "run again alone" not in (run.reason or ""), run.reason
        reports = [op for op in run.history if op["f"] == "fault_report" and op["type"] == "ok"]
        assert reports, run.scenario_id
        for op in reports:
            value = op["value"]
            scope = value["metadata"]["order_id"]  # this run's carts, made before the fault
            assert scope and set(scope) <= set(run.business_keys), (scope, run.business_keys)
            assert value["fired_on_money"] >= 1, value
        spans.append((run.started_wall, run.started_wall + run.duration_s))
    # they really went on side by side: every run started before the others ended
    latest_start = max(start for start, _ in spans)
    assert all(latest_start < end for _, end in spans), spans


def test_a_checkout_that_does_not_label_its_charges_is_run_again_alone(
    provider: ServerProcess, tmp_path: Path
) -> None:
    # One scenario at a time, so that no other run is in flight beside it: unlabelled
    # charges of runs side by side are ambiguous (an error, whatever the faults did); and
    # one cart per run, as several unlabelled ones cannot be told apart, alone or not.
    ids = ["api.retry_while_in_flight", "provider.lost_response", "provider.error_before_charge"]
    for target in _target(provider, tmp_path, "", metadata_key="cart"):
        runner = Runner(target, tmp_path, RunOptions(jobs=4, race_repeat=1))
        runs = [run for i in ids for run in runner.run([get(i)]).runs]
        for run in runs:
            # the scoped fault could not reach a charge under metadata[cart]; alone and
            # unscoped it did, and that attempt decides
            assert run.status == "passed", f"{run.scenario_id}: {run.reason}"
            assert run.reason and "run again alone" in run.reason, run.reason
            reports = [op for op in run.history if op["f"] == "fault_report"]
            assert reports and all(op["value"]["metadata"] is None for op in reports)


def test_a_checkout_that_charges_from_a_queue_is_not_judged_before_the_charge_lands(
    provider: ServerProcess, tmp_path: Path
) -> None:
    """The shop answers 202 and charges a moment later. The reconcile wait must not take
    "unpaid and not charged yet" for a settled order at its first look: the read after it
    would show unpaid, the charge would land, and a correct checkout would be failed for
    an orphan charge. (A queue slower than the wait's 0.25 s pause is not covered yet.)"""
    shop = start_shop(provider.url, "queued", log_dir=tmp_path)
    try:
        path = write_profile(tmp_path / "shop.toml", base_url=shop.url,
                             provider_url=provider.url, name="shop-queued")  # fmt: skip
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("\n[provider]", "\nreconcile_window_s = 5\n\n[provider]", 1))
        target = open_target(load_profile(path), tmp_path)
        try:
            runs = _run(target, tmp_path, ["api.same_key_sequential"], repeat=3)
        finally:
            target.stop()
    finally:
        shop.stop()
    assert len(runs["api.same_key_sequential"]) == 3
    for run in runs["api.same_key_sequential"]:
        assert run.status == "passed", (run.reason, [c for c in run.checks if c.valid is False])
        assert [row["kind"] for row in run.ledger].count("charge") == 1  # from the job
