"""Hosted Checkout in-process: a session expires when its time passes, and outlives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from fake_provider._provider import Provider
from fake_provider.app import ProviderConfig, create_app

AUTH = {"Authorization": "Bearer sk_test_nodouble"}
FORM = {
    "mode": "payment",
    "line_items[0][price_data][currency]": "gbp",
    "line_items[0][price_data][unit_amount]": "700",
    "line_items[0][price_data][product_data][name]": "Tea",
    "line_items[0][quantity]": "1",
    "success_url": "https://shop.example/ok/{CHECKOUT_SESSION_ID}",
    "metadata[order_id]": "tea-1",
}


def test_an_open_session_expires_once_its_expires_at_has_passed() -> None:
    async def scenario() -> tuple[list[int], list[str], list[str], int]:
        app = create_app(ProviderConfig())
        provider: Provider = app.state.provider
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            form = {**FORM, "expires_at": str(int(provider.clock.now()) + 1805)}
            session = (await client.post("/v1/checkout/sessions", data=form, headers=AUTH)).json()
            provider.clock.advance(1790)
            still = await client.get(f"/v1/checkout/sessions/{session['id']}", headers=AUTH)
            provider.clock.advance(20)
            gone = await client.get(f"/v1/checkout/sessions/{session['id']}", headers=AUTH)
            page = await client.get(f"/c/pay/{session['id']}")
            pay = await client.post(f"/_fake/checkout/sessions/{session['id']}/pay")
        statuses = [still.status_code, gone.status_code, page.status_code, pay.status_code]
        seen = [still.json()["status"], gone.json()["status"]]
        events = [e["type"] for e in provider.webhooks.events()]
        return statuses, seen, events, len(provider.ledger.entries(kind="charge"))

    statuses, seen, events, charges = asyncio.run(scenario())
    assert statuses == [200, 200, 410, 409]
    assert seen == ["open", "expired"]
    assert events == ["checkout.session.expired"] and charges == 0


def test_sessions_outlive_a_restart_and_are_still_paid_once(tmp_path: Path) -> None:
    state = str(tmp_path / "fake.sqlite3")

    async def run(step: str, session_id: str = "") -> tuple[str, int]:
        app = create_app(ProviderConfig(state_path=state))
        provider: Provider = app.state.provider
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
                if step == "create":
                    made = await client.post("/v1/checkout/sessions", data=FORM, headers=AUTH)
                    return made.json()["id"], 0
                paid = await client.post(f"/c/pay/{session_id}", data={})
                return paid.headers.get("location", "") or "already", paid.status_code
        finally:
            provider.store.close()

    session_id, _ = asyncio.run(run("create"))
    where, status = asyncio.run(run("pay", session_id))
    assert (where, status) == (f"https://shop.example/ok/{session_id}", 303)
    assert asyncio.run(run("pay", session_id)) == ("already", 200)
    app = create_app(ProviderConfig(state_path=state))
    provider: Provider = app.state.provider
    assert [e["metadata"]["order_id"] for e in provider.ledger.entries(kind="charge")] == ["tea-1"]
    provider.store.close()


def test_minimum_amounts_by_default_refuse_a_small_session_up_front() -> None:
    async def scenario() -> tuple[int, str, int]:
        app = create_app(ProviderConfig())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            small = {**FORM, "line_items[0][price_data][unit_amount]": "20"}
            refused = await client.post("/v1/checkout/sessions", data=small, headers=AUTH)
            fine = await client.post("/v1/checkout/sessions", data=FORM, headers=AUTH)
        return refused.status_code, refused.json()["error"]["code"], fine.status_code

    assert asyncio.run(scenario()) == (400, "amount_too_small", 200)
