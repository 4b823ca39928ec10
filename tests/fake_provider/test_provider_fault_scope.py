"""Faults scoped by metadata: one test run's fault never touches another run's payments."""

from __future__ import annotations

import httpx
import pytest

from fake_provider.client import FakeProviderClient, FakeProviderError
from fake_provider.faults import FaultSpecError, parse_fault


def _create(api: httpx.Client, order_id: str, *, confirm: bool, key: str) -> httpx.Response:
    form = {
        "amount": "900",
        "currency": "usd",
        "metadata[order_id]": order_id,
        "payment_method": "pm_card_visa",
        "confirm": "true" if confirm else "false",
    }
    return api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": key})


def test_a_scoped_fault_passes_over_other_orders_and_fires_on_its_own(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("error_after", "money", metadata={"order_id": ["mine-1", "mine-2"]})
    other = _create(api, "theirs", confirm=True, key="a")
    assert other.status_code == 200
    mine = _create(api, "mine-2", confirm=True, key="b")
    assert mine.status_code == 500  # charged, then answered 500
    [fault] = fake.faults()
    assert fault["metadata"] == {"order_id": ["mine-1", "mine-2"]}
    assert fault["fired"] == 1 and fault["hits"][0]["idempotency_key"] == "b"
    assert len(fake.charges("theirs")) == 1 and len(fake.charges("mine-2")) == 1


def test_a_confirm_or_capture_is_about_the_intent_it_names(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    theirs = _create(api, "theirs", confirm=False, key="c1").json()["id"]
    mine = _create(api, "mine", confirm=False, key="c2").json()["id"]
    fake.set_fault("error_before", "money", metadata={"order_id": ["mine"]}, status=503)
    form = {"payment_method": "pm_card_visa"}
    assert api.post(f"/v1/payment_intents/{theirs}/confirm", data=form).status_code == 200
    assert api.post(f"/v1/payment_intents/{mine}/confirm", data=form).status_code == 503
    assert fake.faults()[0]["hits"][0]["path"] == f"/v1/payment_intents/{mine}/confirm"


def test_a_scoped_search_lag_hides_only_its_intents(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    fake.set_fault("search_lag", "GET /v1/payment_intents/search", metadata={"order_id": ["m"]})
    _create(api, "m", confirm=False, key="s1")
    _create(api, "t", confirm=False, key="s2")

    def found(order_id: str) -> int:
        query = {"query": f"metadata['order_id']:'{order_id}'"}
        return len(api.get("/v1/payment_intents/search", params=query).json()["data"])

    assert (found("m"), found("t")) == (0, 1)
    assert fake.faults()[0]["fired"] == 1


def test_one_fault_is_removed_and_the_others_stay(fake: FakeProviderClient) -> None:
    first = fake.set_fault("delay", "money", metadata={"order_id": ["a"]})
    second = fake.set_fault("delay", "money", metadata={"order_id": ["b"]})
    removed = fake.remove_fault(first["id"])
    assert removed["id"] == first["id"]
    assert [f["id"] for f in fake.faults()] == [second["id"]]
    with pytest.raises(FakeProviderError, match="404"):
        fake.remove_fault(first["id"])


@pytest.mark.parametrize(
    "scope", [{}, [], {"order_id": []}, {"order_id": "a"}, {"order_id": [""]}, {"k": [1]}]
)
def test_a_malformed_scope_is_refused_naming_the_field(scope: object) -> None:
    with pytest.raises(FaultSpecError, match="metadata"):
        parse_fault({"mode": "delay", "metadata": scope}, "f")


def test_a_malformed_scope_is_a_400_over_http(fake: FakeProviderClient) -> None:
    with pytest.raises(FakeProviderError, match=r"400.*metadata"):
        fake.set_fault("delay", "money", metadata={"order_id": []})


def test_two_runs_scoped_search_lags_each_hide_their_own_intents_from_one_search(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    """Two runs going on side by side, each with its search lag: a search that finds both
    runs' new intents (here by a label both share, the customer) hides both, and each lag
    says what it hid. The first lag alone hiding its intents left the other run's story
    unlagged, and its lag silent, which is no error: a pass without the fault's effect."""
    first = fake.set_fault("search_lag", "GET /v1/payment_intents/search",
                           metadata={"order_id": ["run-1"]})  # fmt: skip
    second = fake.set_fault("search_lag", "GET /v1/payment_intents/search",
                            metadata={"order_id": ["run-2"]})  # fmt: skip
    for order_id, key in (("run-1", "l1"), ("run-2", "l2")):
        form = {"amount": "900", "currency": "usd", "metadata[order_id]": order_id,
                "metadata[user]": "alice"}  # fmt: skip
        assert api.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": key})
    query = {"query": "metadata['user']:'alice'"}
    assert api.get("/v1/payment_intents/search", params=query).json()["data"] == []
    fired = {f["id"]: f["fired"] for f in fake.faults()}
    assert fired == {first["id"]: 1, second["id"]: 1}
