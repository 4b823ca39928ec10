"""Fast HTTP tests of the pages against the real server: CSRF, 303s, headers, ownership."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from reference_app.csrf import CSRFError, token_for, verify_token
from reference_app.sessions import Session

from .conftest import Stack, new_user

KEY_FIELD = re.compile(r'name="confirm_key" value="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def _field(pattern: re.Pattern[str], html: str) -> str:
    match = pattern.search(html)
    assert match, f"field not found in page: {html[:500]}"
    return match.group(1)


def _order_via_form(client: httpx.Client, sku: str = "mug-white", quantity: str = "2") -> str:
    shop = client.get("/shop")
    token = _field(CSRF_FIELD, shop.text)
    response = client.post(
        "/checkout", data={"sku": sku, "quantity": quantity, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/checkout/ord_")
    return location.removeprefix("/checkout/")


def _confirm_form(client: httpx.Client, order_id: str) -> tuple[str, str]:
    page = client.get(f"/checkout/{order_id}")
    assert page.status_code == 200, page.text
    return _field(CSRF_FIELD, page.text), _field(KEY_FIELD, page.text)


# ------------------------------------------------------------------ csrf unit


def test_csrf_token_is_bound_to_the_session() -> None:
    mine, theirs = Session("alice", "sid-1"), Session("alice", "sid-2")
    token = token_for(mine, "secret")
    verify_token(token, mine, "secret")
    for token_value, session in [(token, theirs), ("", mine), (None, mine), (token, None)]:
        with pytest.raises(CSRFError):
            verify_token(token_value, session, "secret")
    with pytest.raises(CSRFError):
        verify_token(token, mine, "another-secret")


# ------------------------------------------------------------------ against the server


def test_login_sets_session_and_redirects_303(stack: Stack) -> None:
    with stack.client() as client:
        shop = client.get("/shop")
        assert 'action="/login"' in shop.text
        assert "csrf_token" not in shop.text
        response = client.post("/login", data={"user": "alice", "next": "/shop"})
        assert response.status_code == 303
        assert response.headers["location"] == "/shop"
        assert "nodouble_session" in response.headers["set-cookie"]
        assert 'data-testid="user"' in client.get("/shop").text


def test_login_refuses_bad_names_and_open_redirects(stack: Stack) -> None:
    with stack.client() as client:
        bad = client.post("/login", data={"user": "<script>"})
        assert bad.status_code == 400
        assert "<script>" not in bad.text
        response = client.post("/login", data={"user": "bob", "next": "//evil.example/x"})
        assert response.status_code == 303
        assert response.headers["location"] == "/shop"


def test_login_from_another_origin_is_refused(stack: Stack) -> None:
    with stack.client() as client:
        response = client.post(
            "/login", data={"user": "mallory"}, headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 403
        assert "set-cookie" not in response.headers


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_checkout_post_without_valid_csrf_is_403(stack: Stack, token: str | None) -> None:
    with stack.client(new_user()) as client:
        data = {"sku": "mug-white", "quantity": "1"}
        if token is not None:
            data["csrf_token"] = token
        response = client.post("/checkout", data=data)
        assert response.status_code == 403
        assert "text/html" in response.headers["content-type"]
        assert "Traceback" not in response.text


def test_confirm_post_with_another_sessions_token_is_403_and_charges_nothing(
    stack: Stack,
) -> None:
    with stack.client(new_user()) as client, stack.client(new_user()) as other:
        order_id = _order_via_form(client)
        _, key = _confirm_form(client, order_id)
        other_token = _field(CSRF_FIELD, other.get("/shop").text)
        response = client.post(
            f"/checkout/{order_id}/confirm",
            data={"csrf_token": other_token, "confirm_key": key, "payment_method": "pm_card_visa"},
        )
        assert response.status_code == 403
        assert stack.charges(order_id) == 0


def test_every_post_answers_303_and_pages_are_no_store(stack: Stack) -> None:
    with stack.client(new_user()) as client:
        order_id = _order_via_form(client)
        page = client.get(f"/checkout/{order_id}")
        assert page.headers["cache-control"] == "no-store"
        assert "Cookie" in page.headers["vary"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        token, key = _confirm_form(client, order_id)
        assert _confirm_form(client, order_id)[1] == key, "every render carries the same key"
        form = {"csrf_token": token, "confirm_key": key, "payment_method": "pm_card_visa"}
        response = client.post(f"/checkout/{order_id}/confirm", data=form)
        assert response.status_code == 303
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["location"] == f"/success?orderId={order_id}"
        success = client.get(response.headers["location"])
        assert success.status_code == 200
        assert success.headers["cache-control"] == "no-store"
        assert "Cookie" in success.headers["vary"]
        assert 'data-testid="success"' in success.text
        # The resubmitted form (Back + Pay, refresh, second tab) replays: still one charge.
        again = client.post(f"/checkout/{order_id}/confirm", data=form)
        assert again.status_code == 303
        assert again.headers["location"] == f"/success?orderId={order_id}"
        # A paid order's confirm page is never shown again.
        back = client.get(f"/checkout/{order_id}")
        assert back.status_code == 303
        assert back.headers["location"] == f"/success?orderId={order_id}"
        assert stack.charges(order_id) == 1


def test_success_and_confirm_pages_are_owner_only(stack: Stack) -> None:
    with stack.client(new_user()) as owner, stack.client(new_user()) as other:
        order_id = _order_via_form(owner)
        assert other.get(f"/checkout/{order_id}").status_code == 404
        assert other.get(f"/checkout/{order_id}/progress").status_code == 404
        assert other.get(f"/success?orderId={order_id}").status_code == 404
        assert other.get("/success?orderId=ord_does_not_exist").status_code == 404
        _, key = _confirm_form(owner, order_id)
        other_token = _field(CSRF_FIELD, other.get("/shop").text)
        stolen = other.post(
            f"/checkout/{order_id}/confirm",
            data={"csrf_token": other_token, "confirm_key": key, "payment_method": "pm_card_visa"},
        )
        assert stolen.status_code == 404
        assert stack.charges(order_id) == 0
        # An unpaid order's success URL sends the owner back to the confirm page.
        early = owner.get(f"/success?orderId={order_id}")
        assert early.status_code == 303
        assert early.headers["location"] == f"/checkout/{order_id}"


def test_decline_returns_to_confirm_page_with_reason_and_new_key(stack: Stack) -> None:
    with stack.client(new_user()) as client:
        order_id = _order_via_form(client)
        token, key = _confirm_form(client, order_id)
        response = client.post(
            f"/checkout/{order_id}/confirm",
            data={
                "csrf_token": token,
                "confirm_key": key,
                "payment_method": "pm_card_chargeDeclined",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/checkout/{order_id}"
        page = client.get(response.headers["location"])
        assert 'data-testid="decline"' in page.text
        new_key = _field(KEY_FIELD, page.text)
        assert new_key != key
        paid = client.post(
            f"/checkout/{order_id}/confirm",
            data={"csrf_token": token, "confirm_key": new_key, "payment_method": "pm_card_visa"},
        )
        assert paid.headers["location"] == f"/success?orderId={order_id}"
        assert stack.charges(order_id) == 1


def test_bad_form_input_gets_a_clear_error_page(stack: Stack) -> None:
    with stack.client(new_user()) as client:
        token = _field(CSRF_FIELD, client.get("/shop").text)
        unknown = client.post(
            "/checkout", data={"sku": "nope", "quantity": "1", "csrf_token": token}
        )
        assert unknown.status_code in (400, 422)
        bad_qty = client.post(
            "/checkout", data={"sku": "mug-white", "quantity": "0", "csrf_token": token}
        )
        assert bad_qty.status_code == 400
        order_id = _order_via_form(client)
        no_key = client.post(
            f"/checkout/{order_id}/confirm",
            data={"csrf_token": token, "payment_method": "pm_card_visa"},
        )
        assert no_key.status_code == 400
        for response in (unknown, bad_qty, no_key):
            assert "text/html" in response.headers["content-type"]
            assert "Traceback" not in response.text


def test_signed_out_pages_redirect_to_sign_in(stack: Stack) -> None:
    with stack.client() as client:
        response = client.get("/checkout/ord_x")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/shop?next=")


def test_spa_shell_and_static_assets(stack: Stack) -> None:
    with stack.client() as client:
        shell = client.get("/spa")
        assert shell.status_code == 200
        assert '<script type="module" src="/static/spa.js">' in shell.text
        script = client.get("/static/spa.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert "Idempotency-Key" in script.text
        assert client.get("/static/checkout.js").status_code == 200
        assert client.get("/static/../pages.py").status_code == 404


def test_progress_page_polls_with_get_only_while_a_payment_is_in_flight(stack: Stack) -> None:
    with stack.client(new_user()) as client:
        order_id = _order_via_form(client)
        # Nothing in flight: the progress page sends the user back to the confirm page.
        idle = client.get(f"/checkout/{order_id}/progress")
        assert idle.status_code == 303
        assert idle.headers["location"] == f"/checkout/{order_id}"
        token, key = _confirm_form(client, order_id)
        form = {"csrf_token": token, "confirm_key": key, "payment_method": "pm_card_visa"}
        stack.fault(endpoint="POST /v1/payment_intents", mode="delay", delay_ms=1500, count=1)
        try:
            with ThreadPoolExecutor(1) as pool:
                first = pool.submit(client.post, f"/checkout/{order_id}/confirm", data=form)
                deadline = time.monotonic() + 5
                page = client.get(f"/checkout/{order_id}")
                while page.status_code == 200 and time.monotonic() < deadline:
                    time.sleep(0.05)  # wait until the claim has created the payment
                    page = client.get(f"/checkout/{order_id}")
                # In flight: the confirm page is not offered again, the progress page is.
                assert page.headers["location"] == f"/checkout/{order_id}/progress"
                progress = client.get(page.headers["location"])
                assert progress.status_code == 200
                assert progress.headers["cache-control"] == "no-store"
                assert 'http-equiv="refresh"' in progress.text  # JavaScript off: GET again
                assert "<form" not in progress.text  # nothing on it can POST
                # A resubmitted form meanwhile is told "in progress", not charged again.
                second = client.post(f"/checkout/{order_id}/confirm", data=form)
                assert second.headers["location"] == f"/checkout/{order_id}/progress"
                assert first.result().headers["location"] == f"/success?orderId={order_id}"
        finally:
            stack.clear_faults()
        done = client.get(f"/checkout/{order_id}/progress")
        assert done.headers["location"] == f"/success?orderId={order_id}"
        assert stack.charges(order_id) == 1
