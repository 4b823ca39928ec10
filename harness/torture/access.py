"""Access: two users, CSRF on forms, session cookie flags, tampered amounts, signed webhooks.

- alice pays with key K; bob's use of the same K pays bob's own order (a new payment, not
  a replay of alice's answer), and bob's K on alice's order is 404;
- alice's order is 404 for bob on the API and on the pages;
- the HTML forms refuse a POST without (or with a foreign) CSRF token with 403, and nothing
  is charged;
- the session cookie is HttpOnly and SameSite=Lax (Secure depends on the deployment: it
  needs HTTPS; recorded as a figure);
- an amount sent by the client (API body, form field) is ignored or refused: the provider
  charges the catalog price;
- the webhook endpoint refuses unsigned and wrongly signed events.
"""

from __future__ import annotations

import json
import re
import time

import httpx

from harness.torture._figures import SectionResult
from harness.torture._stack import Context, Shopper, new_key
from reference_app.webhooks import sign

PRICE = 2500  # tee-black, from reference_app/catalog.py
_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def run(ctx: Context) -> SectionResult:
    result = SectionResult("access", ctx.database, "two users, CSRF, cookies, tampering")
    server = ctx.start_app()
    alice, bob = Shopper(server.url, "alice-t"), Shopper(server.url, "bob-t")
    fake = ctx.fake()
    try:
        _keys_and_orders(result, alice, bob, fake)
        _csrf(result, bob, fake)
        _cookie(result, server.url)
        _tampering(result, alice, fake)
        _webhook(result, server.url)
    finally:
        fake.close()
        alice.close()
        bob.close()
    return result


def _keys_and_orders(result: SectionResult, alice: Shopper, bob: Shopper, fake: object) -> None:
    key = new_key()
    order_a = alice.new_order()
    paid = alice.confirm(order_a, key)
    result.expect("alice pays", paid.status_code == 200, paid.text)
    same_key = bob.confirm(order_a, key)
    result.expect(
        "bob with alice's key on her order: 404", same_key.status_code == 404, same_key.text
    )
    order_b = bob.new_order()
    theirs = bob.confirm(order_b, key)
    body = theirs.json()
    result.expect(
        "a key used by alice never replays to bob",
        theirs.status_code == 200
        and theirs.headers.get("idempotent-replayed") is None
        and body.get("order_id") == order_b
        and body.get("payment_id") != paid.json().get("payment_id"),
        f"{theirs.status_code} {theirs.headers} {body}",
    )
    cross = bob.confirm(order_a, new_key())
    result.expect("bob confirming alice's order: 404", cross.status_code == 404, cross.status_code)
    api = bob.http.get(f"/api/orders/{order_a}")
    result.expect("alice's order is 404 for bob (API)", api.status_code == 404, api.status_code)
    page = bob.http.get(f"/checkout/{order_a}")
    result.expect("alice's order is 404 for bob (page)", page.status_code == 404, page.status_code)
    progress = bob.http.get(f"/checkout/{order_a}/progress")
    result.expect(
        "alice's progress page is 404 for bob", progress.status_code == 404, progress.status_code
    )
    assert hasattr(fake, "charges")
    charges = len(fake.charges(order_a))
    result.expect("alice's order charged once", charges == 1, f"{charges} charges")
    result.figure("cross_user_attempts", 5)


def _csrf(result: SectionResult, bob: Shopper, fake: object) -> None:
    order = bob.new_order()
    assert hasattr(fake, "charges")
    refused = 0
    attempts = {
        "no token": {"payment_method": "visa", "confirm_key": "pck_x"},
        "foreign token": {"payment_method": "visa", "confirm_key": "pck_x", "csrf_token": "0" * 64},
    }
    for name, form in attempts.items():
        response = bob.http.post(f"/checkout/{order}/confirm", data=form)
        refused += response.status_code == 403
        result.expect(
            f"confirm form with {name}: 403", response.status_code == 403, response.status_code
        )
    created = bob.http.post("/checkout", data={"sku": "tee-black", "quantity": "1"})
    refused += created.status_code == 403
    result.expect("order form without token: 403", created.status_code == 403, created.status_code)
    cross_site = bob.http.post(
        "/login", data={"user": "mallory"}, headers={"Origin": "https://evil.example"}
    )
    refused += cross_site.status_code == 403
    result.expect(
        "cross-origin login form: 403", cross_site.status_code == 403, cross_site.status_code
    )
    result.figure("csrf_refused", refused)
    charges = len(fake.charges(order))
    result.expect("nothing charged by refused forms", charges == 0, f"{charges} charges")


def _cookie(result: SectionResult, url: str) -> None:
    response = httpx.post(url + "/api/session", json={"user": "cookie-check"})
    header = response.headers.get("set-cookie", "")
    flags = {part.strip().lower() for part in header.split(";")}
    result.expect("session cookie HttpOnly", "httponly" in flags, header)
    result.expect("session cookie SameSite=Lax", "samesite=lax" in flags, header)
    result.figure("cookie_secure_flag", int("secure" in flags))


def _tampering(result: SectionResult, alice: Shopper, fake: object) -> None:
    api = alice.http.post(
        "/api/orders", json={"items": [{"sku": "tee-black", "quantity": 1}], "amount": 1}
    )
    result.expect(
        "API order with an amount: refused (422)", api.status_code == 422, api.status_code
    )
    order = alice.new_order()
    body = alice.http.post(
        f"/api/orders/{order}/confirm",
        json={"payment_method": "pm_card_visa", "amount": 1},
        headers={"Idempotency-Key": new_key()},
    )
    result.expect(
        "confirm with an amount: refused (422)", body.status_code == 422, body.status_code
    )
    shop = alice.http.get("/shop")
    token = _CSRF.search(shop.text)
    if not result.expect("the shop page carries a CSRF token", token is not None, shop.text[:200]):
        return
    assert token is not None
    form = alice.http.post(
        "/checkout",
        data={"sku": "tee-black", "quantity": "1", "amount": "1", "csrf_token": token.group(1)},
    )
    match = re.search(r"/checkout/(ord_[0-9a-f]+)", form.headers.get("location", ""))
    if not result.expect("the order form accepted", match is not None, f"{form.status_code}"):
        return
    assert match is not None
    paid = alice.confirm(match.group(1), new_key())
    assert hasattr(fake, "charges")
    amounts = [c["amount"] for c in fake.charges(match.group(1))]
    result.expect(
        "a tampered form amount is ignored: the catalog price is charged",
        paid.status_code == 200 and amounts == [PRICE],
        f"{paid.status_code} {amounts}",
    )
    result.figure("tampering_attempts", 3)


def _webhook(result: SectionResult, url: str) -> None:
    event = json.dumps(
        {"id": "evt_unsigned", "type": "payment_intent.succeeded", "data": {"object": {}}}
    ).encode()
    unsigned = httpx.post(url + "/webhooks/provider", content=event)
    wrong = httpx.post(
        url + "/webhooks/provider",
        content=event,
        headers={"Stripe-Signature": sign(event, "whsec_wrong", int(time.time()))},
    )
    result.expect("unsigned webhook: 400", unsigned.status_code == 400, unsigned.status_code)
    result.expect("wrongly signed webhook: 400", wrong.status_code == 400, wrong.status_code)
