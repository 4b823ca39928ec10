"""``GET /v1/events``: the account's events, newest first, with the request that caused them."""

from __future__ import annotations

import httpx

from fake_provider.client import FakeProviderClient


def test_events_list_newest_first_filtered_paged_and_keyed(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    form = {"amount": "900", "currency": "usd", "confirm": "true"}
    ok = api.post("/v1/payment_intents", data={**form, "payment_method": "pm_card_visa"},
                  headers={"Idempotency-Key": "k-ok"}).json()  # fmt: skip
    declined = api.post(
        "/v1/payment_intents", data={**form, "payment_method": "pm_card_chargeDeclined"},
        headers={"Idempotency-Key": "k-declined"},
    )  # fmt: skip
    assert declined.status_code == 402
    listed = api.get("/v1/events", params={"limit": 100}).json()
    assert listed["object"] == "list" and listed["url"] == "/v1/events"
    types = [e["type"] for e in listed["data"]]
    assert types[0] == "payment_intent.payment_failed"  # the newest first
    assert "payment_intent.succeeded" in types and listed["has_more"] is False
    succeeded = api.get("/v1/events", params={"type": "payment_intent.succeeded"}).json()
    [event] = succeeded["data"]
    assert event["data"]["object"]["id"] == ok["id"]
    assert event["request"]["idempotency_key"] == "k-ok"
    both = api.get(
        "/v1/events",
        params={"types[]": ["payment_intent.succeeded", "payment_intent.payment_failed"]},
    ).json()
    assert [e["type"] for e in both["data"]] == [
        "payment_intent.payment_failed", "payment_intent.succeeded"
    ]  # fmt: skip
    assert both["data"][0]["request"]["idempotency_key"] == "k-declined"
    group = api.get("/v1/events", params={"type": "payment_intent.*"}).json()
    assert len(group["data"]) == len([t for t in types if t.startswith("payment_intent.")])
    first = api.get("/v1/events", params={"limit": 1}).json()
    rest = api.get("/v1/events", params={"limit": 100, "starting_after": first["data"][0]["id"]})
    assert first["has_more"] is True and len(rest.json()["data"]) == len(types) - 1
    created = listed["data"][0]["created"]
    assert api.get("/v1/events", params={"created[gt]": created + 60}).json()["data"] == []
    assert api.get("/v1/events", params={"starting_after": "evt_nope"}).status_code == 404
    assert api.get("/v1/events", params={"limit": 101}).status_code == 400
    other = httpx.get(
        f"{str(api.base_url).rstrip('/')}/v1/events",
        headers={"Authorization": "Bearer sk_test_someone_else"},
    )
    assert other.json()["data"] == []  # each key is its own account
