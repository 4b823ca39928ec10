"""Hosted-Checkout steps against the reference checkout and the fake provider (real
processes, real Chromium): they act, they record what the tab showed, and a profile field
that points nowhere fails the step naming the field."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from playwright.sync_api import sync_playwright

from fake_provider.client import FakeProviderClient
from harness import _browsing
from harness import _fake_hosted_page as provider_page
from harness._browsing import BrowserSession
from harness._process import ServerProcess
from harness._testing import missing
from harness.browser import find_chromium
from harness.drivers.browser import launch_chromium
from harness.history import History, Op
from harness.interpreter import Interpreter, RunState, StepError
from harness.profile import ProfileError, TargetProfile, parse_profile
from scenarios import hosted
from scenarios.steps import (
    BrowserCheckout,
    OpenConfirm,
    OpenHostedPage,
    OpenSuccessUnpaid,
    PayHostedOffPage,
    PayOnHostedPage,
    ReturnFromHostedPage,
)

pytestmark = pytest.mark.browser
REFERENCE = Path(__file__).resolve().parents[2] / "targets" / "reference.toml"


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    lookup = find_chromium()
    if not lookup.found:
        missing("Chromium", lookup.explain())
    playwright = sync_playwright().start()
    browser = BrowserSession(playwright, launch_chromium(playwright, lookup.executable))
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_browsing, "PRESENT_TIMEOUT_MS", 1_500)


@pytest.fixture(scope="module")
def fake() -> Iterator[ServerProcess]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as proc:
        yield proc


@pytest.fixture(scope="module")
def shop(fake: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "NODOUBLE_DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db') / 'shop.sqlite3'}",
        "NODOUBLE_PROVIDER_URL": fake.url,
        "NODOUBLE_SESSION_SECRET": "test-session-secret",
    }
    with ServerProcess("reference_app.app:create_app", env=env) as proc:
        yield proc


@dataclass
class Run:
    """What the browser side reads of an interpreter."""

    profile: TargetProfile
    target: SimpleNamespace
    provider: FakeProviderClient
    history: History
    artifacts: Path
    state: RunState
    screenshots: list[str] = field(default_factory=list)

    def user_name(self, user: str) -> str:
        return f"{user}-{self.state.run_id}"


def _profile(shop: ServerProcess, fake: ServerProcess, **hosted_fields: str) -> TargetProfile:
    data: dict[str, Any] = tomllib.loads(REFERENCE.read_text())
    data["base_url"] = shop.url
    data["provider"]["url"] = fake.url
    data["browser"]["hosted"].update(hosted_fields)
    return parse_profile(data)


@pytest.fixture
def make_run(
    session: BrowserSession, shop: ServerProcess, fake: ServerProcess, tmp_path: Path
) -> Iterator[Callable[..., Interpreter]]:
    made: list[Interpreter] = []

    def make(**hosted_fields: str) -> Interpreter:
        run = Run(
            _profile(shop, fake, **hosted_fields),
            SimpleNamespace(base_url=shop.url, provider_url=fake.url),
            FakeProviderClient(fake.url),
            History(),
            tmp_path / f"run-{len(made)}",
            RunState(f"h{len(made)}{secrets.token_hex(3)}{os.getpid()}"),
        )
        interp = cast(Interpreter, run)
        made.append(interp)
        return interp

    yield make
    for interp in made:
        session.finish(interp)
        interp.provider.close()


def _last(interp: Interpreter, f: str) -> Op:
    return [op for op in interp.history.ops if not op.is_invoke and op.f == f][-1]


def _charges(interp: Interpreter) -> int:
    return len(interp.provider.charges(interp.state.order_id("o1")))


def test_two_tabs_reach_one_session_and_the_second_pays_nothing(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    for step in (BrowserCheckout(tab="t1"), OpenConfirm(tab="t2"),
                 OpenHostedPage(tab="t1"), OpenHostedPage(tab="t2")):  # fmt: skip
        session.step(step, interp)
    opened = [op for op in interp.history.ops if "hosted" in op.value and not op.is_invoke]
    assert [op.value["hosted"] for op in opened] == ["open", "open"]
    urls = {op.value["url"] for op in opened}
    assert len(urls) == 1 and provider_page.session_id(urls.pop()) is not None
    session.step(PayOnHostedPage(tab="t1"), interp)
    landed = _last(interp, "wait_state")
    assert landed.type == "ok" and landed.value["page_state"] == "success"
    assert "/hosted/return?session_id=cs_" in landed.value["url"]
    session.step(PayOnHostedPage(tab="t2"), interp)  # its page was loaded before the payment
    seen = _last(interp, "provider_page")
    assert seen.value["provider_state"] == "already_paid"
    assert _charges(interp) == 1


def test_paid_off_page_the_tab_stays_until_it_comes_back(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError, match="needs an earlier PayHostedOffPage"):
        session.step(ReturnFromHostedPage(), interp)
    session.step(OpenHostedPage(), interp)
    session.step(PayHostedOffPage(), interp)
    paid = _last(interp, "hosted_pay_off_page")
    assert paid.type == "ok" and paid.value["provider_outcome"] == "paid"
    assert paid.value["order_id"] == interp.state.order_id("o1")
    assert _charges(interp) == 1
    session.step(ReturnFromHostedPage(), interp)
    assert _last(interp, "wait_state").value["page_state"] == "success"
    assert _charges(interp) == 1


def test_the_success_url_of_an_unpaid_session_is_loaded_and_recorded(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError, match="no provider hosted page in the tab"):
        session.step(OpenSuccessUnpaid(), interp)
    session.step(OpenHostedPage(), interp)
    session.step(OpenSuccessUnpaid(), interp)
    loaded = _last(interp, "page_load")
    assert "/hosted/return?session_id=cs_" in loaded.value["target"]
    assert loaded.value["page_state"] == "confirm"  # the reference checkout: back to paying
    assert _charges(interp) == 0


def test_a_hosted_pay_selector_that_matches_nothing_fails_the_step(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(pay="#no-such-button")
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError, match=r"browser.hosted.pay '#no-such-button' matches nothing"):
        session.step(OpenHostedPage(), interp)
    assert _charges(interp) == 0


def test_a_success_url_regex_that_does_not_match_fails_the_step(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(success_url_regex="/thank-you/")
    session.step(BrowserCheckout(), interp)
    session.step(OpenHostedPage(), interp)
    with pytest.raises(StepError, match=r"browser.hosted.success_url_regex '/thank-you/'"):
        session.step(PayOnHostedPage(), interp)


def test_a_landing_page_without_success_is_watched_once_not_waited_for_twice(
    session: BrowserSession,
    make_run: Callable[..., Interpreter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After Pay the step goes on once the provider has sent the tab to the target and that
    page has loaded; it then watches for success once. (Before, a page that never shows
    success cost the landing timeout twice.)"""
    from harness import _hosted

    monkeypatch.setattr(_hosted, "LANDING_TIMEOUT_MS", 2_000)
    landings: list[bool] = []
    real = provider_page.left_or_final

    def spy(page: Any, timeout_ms: float) -> bool:
        landings.append(real(page, timeout_ms))
        return landings[-1]

    monkeypatch.setattr(provider_page, "left_or_final", spy)
    interp = make_run()
    browser = interp.profile.browser
    assert browser is not None
    selectors = browser.selectors.model_copy(update={"success": "[data-testid=never-shown]"})
    browser = browser.model_copy(update={"selectors": selectors})
    interp.profile = interp.profile.model_copy(update={"browser": browser})
    session.step(BrowserCheckout(), interp)
    session.step(OpenHostedPage(), interp)
    session.step(PayOnHostedPage(), interp)
    assert landings == [True]  # the tab left the provider's page and the new one loaded
    watched = [op for op in interp.history.ops if op.f == "wait_state" and not op.is_invoke]
    assert [op.type for op in watched] == ["info"]  # one watch, which did not see success
    assert "/hosted/return?session_id=cs_" in watched[0].value["url"]
    assert _charges(interp) == 1


def test_a_declined_card_on_the_provider_page_is_recorded_there(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    session.step(OpenHostedPage(), interp)
    session.step(PayOnHostedPage(payment_method="pm_card_chargeDeclined"), interp)
    seen = _last(interp, "provider_page")
    assert seen.value["provider_state"] == "declined"
    assert not [op for op in interp.history.ops if op.f == "wait_state"]
    assert _charges(interp) == 0


@pytest.mark.timeout(30)  # a busy loop until the deadline would take 60 s
def test_a_closed_tab_ends_the_wait_for_the_landing_at_once(session: BrowserSession) -> None:
    page = session.browser.new_page()
    page.close()
    assert provider_page.left_or_final(page, 60_000) is False  # not a 60 s busy loop


def test_the_profile_section_is_checked_and_gives_the_capability() -> None:
    data: dict[str, Any] = tomllib.loads(REFERENCE.read_text())
    assert "hosted_checkout" in parse_profile(data).capabilities()
    data["browser"]["hosted"]["success_url_regex"] = "("
    with pytest.raises(ProfileError, match=r"browser.hosted.success_url_regex: '\('"):
        parse_profile(data)
    del data["browser"]["hosted"]
    without = parse_profile(data).capabilities()
    assert "hosted_checkout" not in without
    assert all(sc.missing(without) == ["hosted_checkout"] for sc in hosted.SCENARIOS)
