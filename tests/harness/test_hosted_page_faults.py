"""``ProviderFault(at="hosted_page")``: armed on the provider's pages, proven by its hits.

The interpreter aims such a fault at ``"hosted"`` (never at the profile's charge calls);
a payment on the hosted page that the fault acted on makes the step count, and a step
whose fault never met a payment there is a fault problem (the run proves nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import scenarios.steps as s
from harness._process import ServerProcess
from harness.history import History
from harness.interpreter import Interpreter
from harness.profile import load_profile
from harness.target import Target

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with ServerProcess("fake_provider.app:create_app", env={"NODOUBLE_FAKE_STATE": ""}) as fake:
        yield fake.url


@pytest.fixture
def interp(fake_url: str, tmp_path: Path) -> Iterator[Interpreter]:
    httpx.post(f"{fake_url}/_fake/reset").raise_for_status()
    profile = load_profile(ROOT / "targets" / "reference.toml")
    target = Target(profile, "http://127.0.0.1:9", fake_url)  # the shop is never called
    running = Interpreter(target, History(), tmp_path, "run-hosted")
    try:
        yield running
    finally:
        running.close()


def _pay_on_the_page(fake_url: str) -> None:
    form = {
        "mode": "payment",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "900",
        "line_items[0][price_data][product_data][name]": "Ride",
        "line_items[0][quantity]": "1",
        "success_url": "https://shop.example/ok",
        "metadata[order_id]": "hosted-1",
    }
    auth = {"Authorization": "Bearer sk_test_nodouble"}
    session = httpx.post(f"{fake_url}/v1/checkout/sessions", data=form, headers=auth).json()
    with pytest.raises(httpx.RemoteProtocolError):  # drop_after: the browser never comes back
        httpx.post(session["url"], data={"payment_method": "pm_card_visa"})


def test_a_hosted_page_fault_that_charged_proves_itself(interp: Interpreter, fake_url: str) -> None:
    interp.provider_fault(s.ProviderFault(mode="drop_after", at="hosted_page"))
    [armed] = interp.provider.faults()
    assert armed["endpoint"] == "hosted"
    _pay_on_the_page(fake_url)
    interp._report_provider_faults()
    assert interp.fault_problems == []
    [report] = [op for op in interp.history.ops if op.f == "fault_report" and op.type == "ok"]
    assert (report.value["fired"], report.value["fired_on_money"]) == (1, 1)
    [hit] = report.value["hits"]
    assert hit["charged"] and hit["path"].startswith("/c/pay/")


def test_a_hosted_page_fault_that_never_met_a_payment_is_a_problem(
    interp: Interpreter,
) -> None:
    interp.provider_fault(s.ProviderFault(mode="error_before", at="hosted_page"))
    interp._report_provider_faults()
    [problem] = interp.fault_problems
    assert "aimed at hosted never fired" in problem and "hosted page" in problem
