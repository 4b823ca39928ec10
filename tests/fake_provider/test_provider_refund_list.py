"""``GET /v1/refunds``: Stripe's list contract, filtered by charge or PaymentIntent."""

from __future__ import annotations

import httpx

from fake_provider.client import FakeProviderClient


def paid(api: httpx.Client) -> dict[str, str]:
    form = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_visa",
            "confirm": "true"}  # fmt: skip
    body: dict[str, str] = api.post("/v1/payment_intents", data=form).json()
    return body


def test_refunds_list_newest_first_filtered_and_paged(
    api: httpx.Client, fake: FakeProviderClient
) -> None:
    first, second = paid(api), paid(api)
    ids = [
        api.post("/v1/refunds", data={"payment_intent": first["id"], "amount": "100"}).json()["id"],
        api.post("/v1/refunds", data={"charge": second["latest_charge"]}).json()["id"],
        api.post("/v1/refunds", data={"payment_intent": first["id"], "amount": "200"}).json()["id"],
    ]
    listed = api.get("/v1/refunds").json()
    assert listed["object"] == "list" and listed["url"] == "/v1/refunds"
    assert [r["id"] for r in listed["data"]] == ids[::-1] and listed["has_more"] is False
    page = api.get("/v1/refunds", params={"limit": 1, "starting_after": ids[2]}).json()
    assert [r["id"] for r in page["data"]] == [ids[1]] and page["has_more"] is True
    of_intent = api.get("/v1/refunds", params={"payment_intent": first["id"]}).json()
    assert [r["id"] for r in of_intent["data"]] == [ids[2], ids[0]]
    of_charge = api.get("/v1/refunds", params={"charge": second["latest_charge"]}).json()
    assert [r["id"] for r in of_charge["data"]] == [ids[1]]
    created = listed["data"][0]["created"]
    assert api.get("/v1/refunds", params={"created[gt]": created + 60}).json()["data"] == []
    missing = api.get("/v1/refunds", params={"starting_after": "re_nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    assert api.get("/v1/refunds", params={"colour": "red"}).status_code == 400
