"""Browser steps prove they acted, and orders read back from a page (real Chromium).

Served by ``_pay_pages``: a tiny server-rendered shop with a Pay form, a confirm page that
shows ``#already-paid`` once the order is paid, and an order page showing ``#paid`` or
``#unpaid`` to its owner only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from playwright.sync_api import sync_playwright

from harness import _browsing, _threeds
from harness._browsing import BrowserSession
from harness._process import ServerProcess
from harness._testing import missing
from harness.browser import find_chromium
from harness.checkers import no_store_on_payment_pages, post_redirect_get
from harness.checkers._base import CheckContext
from harness.drivers.browser import BrowserDriver, launch_chromium
from harness.history import History, Op
from harness.interpreter import Interpreter, RunState, StepError
from harness.ledger import LedgerView
from harness.profile import TargetProfile, parse_profile
from scenarios.steps import (
    Authenticate3DS,
    BrowserCheckout,
    ChooseCard,
    ClickPay,
    Navigate,
    OpenConfirm,
)

pytestmark = pytest.mark.browser
NO_PROVIDER = "http://127.0.0.1:9"
"""The fake provider's URL for these runs: no tab is ever on it (no 3-D Secure challenge)."""
HERE = Path(__file__).resolve().parent


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
    """A missing control fails after 1.5 s here, not after the harness's patient 5 s."""
    monkeypatch.setattr(_browsing, "PRESENT_TIMEOUT_MS", 1_500)
    monkeypatch.setattr(_browsing, "READ_TIMEOUT_MS", 1_000)


@pytest.fixture(scope="module")
def app(session: BrowserSession) -> Iterator[ServerProcess]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    with ServerProcess("_pay_pages:create_app", env={"PYTHONPATH": path}) as proc:
        yield proc


@dataclass
class Run:
    """What the browser side reads of an interpreter."""

    profile: TargetProfile
    target: SimpleNamespace
    history: History
    artifacts: Path
    state: RunState
    screenshots: list[str] = field(default_factory=list)

    def user_name(self, user: str) -> str:
        return f"{user}-{self.state.run_id}"


def _profile(base_url: str, **selectors: str) -> TargetProfile:
    chosen = {"checkout": "#buy", "pay": "#pay", "success": "#success", **selectors}
    return parse_profile(
        {
            "name": "pages",
            "base_url": base_url,
            "session": {"login": {"path": "/login", "form": {"user": "{user}"}}},
            "browser": {
                "entry_path": "/shop",
                "selectors": chosen,
                "success_url_regex": "/done/",
                "confirm_url_regex": "/checkout/(?P<order_id>[^/?]+)$",
                "confirm_path": "/checkout/{order_id}",
                "read_order": {"path": "/orders/{order_id}", "paid": "#paid", "unpaid": "#unpaid"},
            },
        }
    )


@pytest.fixture
def make_run(
    session: BrowserSession, app: ServerProcess, tmp_path: Path
) -> Iterator[Callable[..., Interpreter]]:
    made: list[Interpreter] = []

    def make(**selectors: str) -> Interpreter:
        run = Run(
            _profile(app.url, **selectors),
            SimpleNamespace(base_url=app.url, provider_url=NO_PROVIDER),
            History(),
            tmp_path / f"run-{len(made)}",
            RunState(f"r{len(made)}{os.getpid()}{id(made) % 10_000}"),
        )
        interp = cast(Interpreter, run)
        made.append(interp)
        return interp

    yield make
    for interp in made:
        session.finish(interp)


def _pays(app: ServerProcess) -> int:
    counts: dict[str, int] = httpx.get(app.url + "/stats").json()
    return counts.get("pay", 0)


def _completions(interp: Interpreter, f: str) -> list[Op]:
    return [op for op in interp.history.ops if not op.is_invoke and op.f == f]


# -- a step that cannot act fails -------------------------------------------------------------


def test_a_pay_selector_that_matches_nothing_fails_the_step(
    session: BrowserSession, app: ServerProcess, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(pay="#pay-typo")
    session.step(BrowserCheckout(), interp)
    before = _pays(app)
    with pytest.raises(StepError) as raised:
        session.step(ClickPay(), interp)
    message = str(raised.value)
    assert "browser.selectors.pay '#pay-typo'" in message
    assert f"{app.url}/checkout/o" in message  # the page it looked at
    assert "browser.selectors.already_paid" in message  # what to declare if this is expected
    assert _pays(app) == before
    assert not any(op.value.get("skipped") for op in interp.history.ops)
    assert interp.screenshots  # what the page showed instead


def test_no_pay_control_and_no_already_paid_page_names_both(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(pay="#pay-typo", already_paid="#already-paid")
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError, match=r"'#pay-typo'.*'#already-paid' is not shown"):
        session.step(ClickPay(), interp)


def test_a_checkout_selector_that_matches_nothing_fails_the_step(
    session: BrowserSession, app: ServerProcess, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(checkout="#buy-typo")
    with pytest.raises(StepError) as raised:
        session.step(BrowserCheckout(), interp)
    assert "browser.selectors.checkout '#buy-typo'" in str(raised.value)
    assert f"{app.url}/shop" in str(raised.value)


def test_an_already_paid_page_is_recorded_as_expected(
    session: BrowserSession, app: ServerProcess, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(already_paid="#already-paid")
    before = _pays(app)
    session.step(BrowserCheckout(), interp)
    session.step(ClickPay(), interp)
    session.step(OpenConfirm(tab="t2"), interp)
    session.step(ClickPay(tab="t2"), interp)  # the order is paid: no form, and that is fine
    assert _pays(app) == before + 1
    paid, expected = _completions(interp, "click")[-2:]
    assert paid.value["pay"] is True and paid.value["outcome"] == "success"
    assert expected.type == "ok" and "pay" not in expected.value
    assert expected.value["expected_state"] == "already_paid"
    assert expected.value["outcome"] == "already_paid"
    assert expected.value["selector"] == "#pay"
    assert "/checkout/o" in expected.value["url"]
    assert expected.value["order_id"] == interp.state.order_id("o1")


def test_already_paid_shown_where_the_tab_never_went_back_is_an_error(
    session: BrowserSession, app: ServerProcess, make_run: Callable[..., Interpreter]
) -> None:
    # The success page's own marker declared as already_paid, as a profile may: a second
    # Pay click on the success page (Back did nothing) must not count as "already paid".
    interp = make_run(already_paid="#success")
    session.step(BrowserCheckout(), interp)
    session.step(ClickPay(), interp)
    with pytest.raises(RuntimeError) as raised:
        session.step(ClickPay(), interp)
    assert "has not loaded the order's confirm page" in str(raised.value)


def test_a_history_move_that_goes_nowhere_on_the_site_fails_the_step(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    with pytest.raises(RuntimeError) as raised:
        session.step(Navigate(action="forward"), interp)  # nothing ahead in this tab
    assert "Forward did nothing" in str(raised.value)


def test_back_out_of_the_checkout_is_recorded_as_leaving_it(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    session.step(ClickPay(), interp)
    run = session.drivers[id(interp)]
    assert run.driver is not None
    page = run.driver.page(run.tab("t1"))
    for _ in range(6):
        if page.url == "about:blank":
            break
        session.step(Navigate(action="back"), interp)
    assert page.url == "about:blank"
    session.step(ClickPay(), interp)
    left = _completions(interp, "click")[-1]
    assert left.value["expected_state"] == "left_checkout"
    assert left.value["outcome"] == "left_checkout" and left.value["url"] == "about:blank"


def test_payment_pages_are_marked_and_only_they_are_judged(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    session.step(ClickPay(), interp)
    documents = [
        (d["method"], d["url"].split("/", 3)[-1], d["payment_page"])
        for op in interp.history.ops
        if not op.is_invoke
        for d in op.value.get("documents", [])
    ]
    order_id = interp.state.order_id("o1")
    assert documents == [
        ("GET", "shop", None),
        ("POST", "cart", None),  # a form, not a payment: its 303 is not judged
        ("GET", f"checkout/{order_id}", "confirm"),
        ("POST", f"checkout/{order_id}/pay", "pay"),
        ("GET", f"done/{order_id}", "success"),
    ]
    ctx = CheckContext()
    store = no_store_on_payment_pages.check(interp.history, LedgerView(), ctx)
    assert store.valid is True and store.counts["payment_responses"] == 2
    prg = post_redirect_get.check(interp.history, LedgerView(), ctx)
    assert prg.valid is True and prg.counts["pay_form_posts"] == 1


# -- reading an order from a page -----------------------------------------------------------


def _order(app: ServerProcess, owner: str, *, paid: bool) -> str:
    order_id = str(httpx.post(app.url + "/api/orders", json={"user": owner}).json()["order_id"])
    if paid:
        httpx.post(f"{app.url}/orders/{order_id}/paid")
    return order_id


def test_read_order_from_a_page_before_any_browser_step(
    session: BrowserSession, app: ServerProcess, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    alice = interp.user_name("alice")
    paid, unpaid = _order(app, alice, paid=True), _order(app, alice, paid=False)
    reads: dict[str, Op] = {
        name: session.read_order(interp, order_id, "alice")
        for name, order_id in (("paid", paid), ("unpaid", unpaid), ("blank", "blank"),
                               ("missing", "nope"))
    }  # fmt: skip
    bob = session.read_order(interp, paid, "bob")  # signed in, but not the owner
    assert (reads["paid"].type, reads["paid"].value["paid"]) == ("ok", True)
    assert (reads["unpaid"].type, reads["unpaid"].value["paid"]) == ("ok", False)
    assert (reads["blank"].type, reads["blank"].value["paid"]) == ("ok", None)
    assert reads["blank"].value["shown"] == []
    missing_read: dict[str, Any] = reads["missing"].value
    assert reads["missing"].type == "fail"
    assert (missing_read["paid"], missing_read["status"]) == (None, 404)
    assert missing_read["url"].endswith("/orders/nope")
    assert (bob.type, bob.value["status"], bob.value["paid"]) == ("fail", 401, None)
    assert reads["paid"].value["order_id"] == paid and reads["paid"].value["user"] == alice
    assert reads["paid"].value["status"] == 200 and reads["paid"].f == "read_order"


def test_read_order_after_paying_in_the_browser(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    order_id = interp.state.order_id("o1")
    before = session.read_order(interp, order_id, "alice")
    session.step(ClickPay(), interp)
    after = session.read_order(interp, order_id, "alice")
    assert (before.value["paid"], after.value["paid"]) == (False, True)
    assert [op.process for op in (before, after)] == ["tab-2", "tab-3"]  # fresh tabs


# -- the driver: late answers and waits that time out -----------------------------------------


@pytest.fixture
def driver(session: BrowserSession, app: ServerProcess, tmp_path: Path) -> Iterator[BrowserDriver]:
    with BrowserDriver(
        History(), app.url, tmp_path, browser=session.browser,
        markers={"success": "#success", "confirm": "#confirm"},
        payment_pages=[("confirm", "/spa/"), ("success", "/done/")],
    ) as drv:  # fmt: skip
        yield drv


def test_a_slow_pay_fetch_is_answered_in_a_later_operation(driver: BrowserDriver) -> None:
    driver.new_tab()
    load = driver.goto("/spa/o9?ms=800")
    click = driver.click("#js-pay", extra={"pay": True})
    wait = driver.wait_until("success", timeout_ms=5_000)
    assert load.value["document"]["payment_page"] == "confirm"
    [post] = click.value["posts"]
    assert post["payment_page"] == "pay" and "status" not in post
    [late] = wait.value["late_answers"]
    assert (late["status"], late["cache_control"], late["payment_page"]) == (
        200,
        "max-age=60",
        "pay",
    )
    assert wait.type == "ok" and wait.value["document"]["payment_page"] == "success"
    result = no_store_on_payment_pages.check(driver.history, LedgerView(), CheckContext())
    assert result.valid is False and result.first is not None
    assert result.first["op"] == wait.index and result.first["payment_page"] == "pay"


def test_a_wait_that_times_out_is_recorded_with_the_state_shown(driver: BrowserDriver) -> None:
    driver.new_tab()
    driver.goto("/spa/o9")
    wait = driver.wait_until("success", timeout_ms=300)
    assert wait.type == "info" and wait.value["outcome"] == "unknown"
    assert wait.value["want"] == "success" and wait.value["page_state"] == "confirm"
    assert wait.value["error"].startswith("timeout")


# -- 3-D Secure steps: choosing a card, the provider's challenge --------------------------------


def test_choose_card_without_its_selector_fails_the_step(
    session: BrowserSession, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError, match=r"browser\.selectors\.payment_method in the profile"):
        session.step(ChooseCard(payment_method="pm_card_visa"), interp)


def test_a_card_the_page_does_not_offer_fails_the_step(
    session: BrowserSession, app: ServerProcess, make_run: Callable[..., Interpreter]
) -> None:
    interp = make_run(payment_method="input[value='{payment_method}']")
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError) as raised:
        session.step(ChooseCard(payment_method="pm_card_visa"), interp)
    assert "browser.selectors.payment_method \"input[value='pm_card_visa']\"" in str(raised.value)
    assert f"{app.url}/checkout/o" in str(raised.value)


def test_no_challenge_fails_authenticate_unless_if_shown(
    session: BrowserSession,
    make_run: Callable[..., Interpreter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_threeds, "SHOW_TIMEOUT_S", 1.0)
    monkeypatch.setattr(_threeds, "IF_SHOWN_TIMEOUT_S", 0.5)
    interp = make_run()
    session.step(BrowserCheckout(), interp)
    with pytest.raises(StepError, match=r"no 3-D Secure challenge in t1: .*/checkout/o"):
        session.step(Authenticate3DS(), interp)
    session.step(Authenticate3DS(if_shown=True), interp)
    (noted,) = _completions(interp, "authenticate_3ds")
    assert noted.type == "ok"
    assert noted.value["shown"] is False
    assert noted.value["challenge"] is None
    assert noted.value["order_id"] == interp.state.order_id("o1")
    with pytest.raises(StepError, match="no challenge was seen in t1"):
        session.step(Authenticate3DS(late=True), interp)


def test_a_tab_at_the_challenge_is_pending_not_paid_nor_failed() -> None:
    marker = _threeds.challenge_marker("http://127.0.0.1:4242/")
    assert marker == "url:^" + re.escape("http://127.0.0.1:4242/3ds/")
    assert _threeds.challenge_intent("http://127.0.0.1:4242", "http://127.0.0.1:4242/3ds/pi_1?x=1")
    assert (
        _threeds.challenge_intent("http://127.0.0.1:4242", "http://127.0.0.1:4243/3ds/pi_1") is None
    )
