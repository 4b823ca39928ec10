"""Real scenarios judged from Stripe's public API equal those judged from the fake's ledger.

The reference checkout (and one flaw of it) pays through the fake provider. The same
scenarios run twice against one stack: judged from ``/_fake/ledger``, then judged from
the Stripe source reading the same fake through ``/v1`` only, through a recording proxy
that is also the harness's provider URL, so any ``/_fake/`` call the harness makes in
Stripe mode would show. Scenarios needing the fake's control API are not applicable.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _recording_proxy import RecordingProxy
from typer.testing import CliRunner

from harness._process import ServerProcess
from harness.cli import app
from harness.ledger_sources.fake import FakeLedger
from harness.ledger_sources.stripe import StripeLedger
from harness.profile import load_profile
from harness.reports import RunReport
from harness.runner import Runner, RunOptions
from harness.target import REFERENCE_PROFILE, Target, open_target
from scenarios import get

BASELINE = ("api.same_key_sequential", "api.timeout_then_retry", "api.key_reused_other_body")
CAUGHT = {  # flaw -> (scenario, invariant violated): a money failure read from the ledger
    "trust_client_amount": ("api.tampered_amount", "charge_matches_order"),
}
"""(``no_business_key_guard`` on ``api.parallel_different_keys``, a double charge, gives
equal verdicts too, but its rounds take 15 s per ledger on a shared 2-core machine.)"""
FAKE_ONLY = (
    "provider.timeout_after_charge", "webhooks.duplicate", "threeds.two_tabs_ssr",
    "hosted.double_click",
)  # fmt: skip
"""One scenario of each capability only the fake serves: provider faults, webhooks, 3-D
Secure (the fake's challenge page) and hosted Checkout (the fake's hosted page)."""
KEY = "sk_test_nodouble"  # the key the embedded reference checkout pays with
ENV = "NODOUBLE_TEST_STRIPE_KEY"
OPTIONS = RunOptions(browser=False, jobs=2, race_repeat=1)


@pytest.fixture(scope="module")
def fake() -> Iterator[ServerProcess]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(fake: ServerProcess) -> Iterator[RecordingProxy]:
    with RecordingProxy(fake.url) as recording:
        yield recording


@pytest.fixture(scope="module")
def baseline(fake: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The correct reference checkout, shared by the tests that need no flaw."""
    target = start(fake, tmp_path_factory.mktemp("baseline"), None)
    try:
        yield target
    finally:
        target.stop()


def start(fake: ServerProcess, tmp: Path, flaw: str | None) -> Target:
    profile = load_profile(REFERENCE_PROFILE)
    provider = profile.provider.model_copy(update={"url": fake.url})
    # the embedded checkout reconciles every second: 3 s is its window here, not 10
    changes = {"provider": provider, "reconcile_window_s": 3.0}
    return open_target(profile.model_copy(update=changes), tmp, flaw=flaw)


def stripe_mode(target: Target, proxy: RecordingProxy) -> Target:
    """The same live stack, with the harness's provider URL behind the proxy."""
    return dataclasses.replace(target, provider_url=proxy.url)


def verdicts(report: RunReport) -> dict[str, tuple[str, str | None]]:
    return {r.scenario_id: (r.status, r.failure) for r in report.runs}


def judge_both(
    target: Target, fake: ServerProcess, proxy: RecordingProxy, tmp: Path, ids: tuple[str, ...]
) -> tuple[RunReport, RunReport]:
    """The scenarios judged from the fake's ledger, then from the Stripe source (which
    also meets the scenarios only the fake can serve)."""
    chosen = [get(sid) for sid in ids]
    fake_ledger = FakeLedger(fake.url)
    try:
        judged_by_fake = Runner(target, tmp / "fake", OPTIONS, source=fake_ledger).run(chosen)
    finally:
        fake_ledger.close()
    proxy.clear()
    source = StripeLedger(KEY, proxy.url)
    try:
        runner = Runner(stripe_mode(target, proxy), tmp / "stripe", OPTIONS, source=source)
        judged_by_stripe = runner.run([*chosen, *(get(sid) for sid in FAKE_ONLY)])
    finally:
        source.close()
    return judged_by_fake, judged_by_stripe


@pytest.mark.parametrize("flaw", [None, *CAUGHT])
def test_stripe_verdicts_equal_fake_verdicts(
    fake: ServerProcess,
    proxy: RecordingProxy,
    baseline: Target,
    tmp_path: Path,
    flaw: str | None,
) -> None:
    if flaw is None:
        judged_by_fake, judged_by_stripe = judge_both(baseline, fake, proxy, tmp_path, BASELINE)
        chosen = BASELINE
    else:
        chosen = (CAUGHT[flaw][0],)
        target = start(fake, tmp_path, flaw)
        try:
            judged_by_fake, judged_by_stripe = judge_both(target, fake, proxy, tmp_path, chosen)
        finally:
            target.stop()
    fake_verdicts, stripe_verdicts = verdicts(judged_by_fake), verdicts(judged_by_stripe)
    assert {sid: stripe_verdicts[sid] for sid in chosen} == fake_verdicts
    if flaw is None:
        assert set(fake_verdicts.values()) == {("passed", None)}
    else:
        sid, invariant = CAUGHT[flaw]
        assert fake_verdicts[sid] == ("failed", "money")
        [run] = [r for r in judged_by_stripe.runs if r.scenario_id == sid]
        assert run.reason and invariant in run.reason
    for sid in FAKE_ONLY:
        run = next(r for r in judged_by_stripe.runs if r.scenario_id == sid)
        assert run.status == "not_applicable"
        assert run.reason and "Stripe's test mode" in run.reason and "/_fake/" in run.reason
        assert run.history == []  # judged not applicable before any step ran
    reads = [op for r in judged_by_stripe.runs for op in r.history if op["f"] == "ledger_read"]
    assert reads and all("Stripe test-mode" in op["value"]["source"] for op in reads)
    stripe_rows = [row for r in judged_by_stripe.runs for row in r.ledger]
    assert stripe_rows and all(str(row["id"]).startswith(("ch_", "re_")) for row in stripe_rows)
    assert judged_by_stripe.unattributed == []
    paths = proxy.paths()
    assert [p for p in paths if p.startswith("/v1/charges?")], paths
    assert [p for p in paths if p.startswith("/_fake") or "/search" in p] == []


def test_a_checkout_paying_with_another_account_never_paid_the_story(
    proxy: RecordingProxy, baseline: Target, tmp_path: Path
) -> None:
    source = StripeLedger("sk_test_not_the_checkouts", proxy.url)
    try:
        runner = Runner(stripe_mode(baseline, proxy), tmp_path / "r", OPTIONS, source=source)
        report = runner.run([get("api.same_key_sequential")])
    finally:
        source.close()
    [run] = report.runs
    # the checkout says paid, the source's account shows no charge: never a pass, and the
    # reason says why (the story never paid: the source reads another account)
    assert (run.status, run.failure, run.ledger) == ("failed", "money", [])
    assert run.reason and "the story never paid" in run.reason


def test_nodouble_run_with_a_stripe_profile(
    fake: ServerProcess, proxy: RecordingProxy, baseline: Target, tmp_path: Path
) -> None:
    """The user's path: the profile selects the source, the key comes from the variable;
    the checkout is the running baseline, as a staging checkout would be."""
    profile = staging_profile(fake, proxy, baseline, tmp_path)
    proxy.clear()
    reports = tmp_path / "reports"
    result = CliRunner().invoke(
        app,
        ["run", "--target", str(profile), "--no-browser", "--report-dir", str(reports),
         "--scenario", "api.same_key_sequential", "--jobs", "1"],
        env={ENV: KEY, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ledger: Stripe test-mode charges" in result.output and KEY not in result.output
    data = json.loads(((reports / "latest").resolve() / "report.json").read_text())
    assert [(r["status"], len(r["ledger"])) for r in data["runs"]] == [("passed", 1)]
    paths = proxy.paths()
    assert paths[0].startswith("/v1/charges?limit=1")  # the check before the first scenario
    assert [p for p in paths if p.startswith("/_fake") or "/search" in p] == []


def staging_profile(
    fake: ServerProcess, proxy: RecordingProxy, baseline: Target, tmp_path: Path
) -> Path:
    """The reference profile as a team's staging profile: its own checkout URL, the ledger
    read from Stripe's API (here the fake behind the recording proxy), the key from ENV."""
    stripe = f'ledger = "stripe"\napi_key_env = "{ENV}"\napi_base = "{proxy.url}"'
    text = (
        REFERENCE_PROFILE.read_text(encoding="utf-8")
        .replace('base_url = "auto"', f'base_url = "{baseline.base_url}"')
        .replace(
            'url = "auto"                    # the harness starts the fake provider too',
            f'url = "{fake.url}"\n{stripe}',
        )
    )
    assert 'ledger = "stripe"' in text and '= "auto"' not in text
    profile = tmp_path / "staging.toml"
    profile.write_text(text, encoding="utf-8")
    return profile


def test_doctor_with_a_stripe_profile(
    fake: ServerProcess, proxy: RecordingProxy, baseline: Target, tmp_path: Path
) -> None:
    """The doctor walks its purchase and reads it back through Stripe's API alone."""
    profile = staging_profile(fake, proxy, baseline, tmp_path)
    proxy.clear()
    result = CliRunner().invoke(app, ["doctor", "--target", str(profile)], env={ENV: KEY})
    assert result.exit_code == 0, result.output
    assert "ok   account: the charge is in the account the ledger reads" in result.output
    assert "ok   business key: the charge carries order_id = ord_" in result.output
    assert [p for p in proxy.paths() if p.startswith("/_fake") or "/search" in p] == []
