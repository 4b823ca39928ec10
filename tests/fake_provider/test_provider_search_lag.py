"""The opt-in ``search_lag`` fault: new intents stay out of search, as on Stripe for a while."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError
from fake_provider.faults import FaultSpecError, parse_fault

SEARCH = "GET /v1/payment_intents/search"


def _create(api: httpx.Client, order_id: str) -> str:
    form = {"amount": "700", "currency": "usd", "metadata[order_id]": order_id}
    response = api.post("/v1/payment_intents", data=form)
    assert response.status_code == 200, response.text
    intent_id: str = response.json()["id"]
    return intent_id


def _search(api: httpx.Client, order_id: str) -> list[str]:
    response = api.get(
        "/v1/payment_intents/search", params={"query": f"metadata['order_id']:'{order_id}'"}
    )
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["data"]]


def test_a_new_intent_is_hidden_from_search_but_not_from_retrieve(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("search_lag", delay_ms=60_000)
    intent_id = _create(api, "lag-1")
    assert _search(api, "lag-1") == []
    assert api.get(f"/v1/payment_intents/{intent_id}").json()["id"] == intent_id
    [fault] = fake.faults()
    assert (fault["mode"], fault["fired"], fault["count"]) == ("search_lag", 1, None)
    [hit] = fault["hits"]
    assert hit["method"] == "GET" and hit["path"] == "/v1/payment_intents/search"
    assert hit["money"] is False and hit["charged"] is False
    effect = hit["effect"] or ""
    assert re.fullmatch(rf"hid 1 intent created \d+\.\d s ago from search \({intent_id}\)", effect)
    searches = [r for r in fake.requests() if r["path"] == "/v1/payment_intents/search"]
    assert [r["fault"] for r in searches] == [f"{fault['id']}:search_lag"]
    assert searches[0]["request_id"] == hit["request_id"]


def test_advancing_the_clock_ends_the_lag(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("search_lag", SEARCH, delay_ms=60_000)
    intent_id = _create(api, "lag-2")
    assert _search(api, "lag-2") == []
    fake.advance_clock(61)
    assert _search(api, "lag-2") == [intent_id]
    assert fake.faults()[0]["fired"] == 1  # a search with nothing to hide is not a hit


def test_the_lag_passes_with_real_time(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("search_lag", delay_ms=300)
    intent_id = _create(api, "lag-3")
    assert _search(api, "lag-3") == []
    time.sleep(0.4)
    assert _search(api, "lag-3") == [intent_id]


def test_only_young_intents_are_hidden_and_older_ones_stay(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    old = _create(api, "lag-4")
    fake.advance_clock(120)
    fake.set_fault("search_lag", delay_ms=60_000)
    young = [_create(api, "lag-4"), _create(api, "lag-4")]
    assert _search(api, "lag-4") == [old]
    effect = fake.faults()[0]["hits"][0]["effect"] or ""
    assert effect.startswith("hid 2 intents created ") and all(i in effect for i in young)


def test_count_limits_the_searches_it_lags(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("search_lag", delay_ms=60_000, count=1)
    intent_id = _create(api, "lag-5")
    assert _search(api, "lag-5") == []
    assert _search(api, "lag-5") == [intent_id]


def test_clearing_the_fault_shows_everything(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("search_lag", delay_ms=60_000)
    intent_id = _create(api, "lag-6")
    assert _search(api, "lag-6") == []
    fake.clear_faults()
    assert _search(api, "lag-6") == [intent_id]


def test_a_search_lag_armed_first_leaves_other_faults_working(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("search_lag", "*", delay_ms=60_000)
    fake.set_fault("error_before", "POST /v1/payment_intents")
    form = {"amount": "700", "currency": "usd"}
    assert api.post("/v1/payment_intents", data=form).status_code == 500
    lag, error = fake.faults()
    assert (lag["fired"], error["fired"]) == (0, 1)


def test_a_declined_intent_is_lagged_too(api: httpx.Client, fake: FakeProviderClient) -> None:
    fake.set_fault("search_lag", delay_ms=60_000)
    form = {"amount": "700", "currency": "usd", "metadata[order_id]": "lag-7",
            "payment_method": "pm_card_chargeDeclined", "confirm": "true"}  # fmt: skip
    assert api.post("/v1/payment_intents", data=form).status_code == 402
    assert _search(api, "lag-7") == []
    fake.advance_clock(60)
    assert len(_search(api, "lag-7")) == 1


@pytest.mark.parametrize(
    "endpoint", ["money", "POST /v1/payment_intents", "GET /v1/payment_intents/*/confirm"]
)
def test_search_lag_aims_only_at_search(endpoint: str, fake: FakeProviderClient) -> None:
    with pytest.raises(FakeProviderError, match="endpoint for search_lag"):
        fake.set_fault("search_lag", endpoint)


@pytest.mark.parametrize("endpoint", ["*", SEARCH, "* /v1/payment_intents/search"])
def test_search_lag_endpoints_that_reach_search(endpoint: str) -> None:
    fault = parse_fault({"mode": "search_lag", "endpoint": endpoint}, "flt_1")
    assert (fault.delay_ms, fault.count, fault.probability) == (60_000, None, None)


def test_search_lag_delay_is_bounded() -> None:
    with pytest.raises(FaultSpecError, match="delay_ms"):
        parse_fault({"mode": "search_lag", "delay_ms": 600_001}, "flt_1")
