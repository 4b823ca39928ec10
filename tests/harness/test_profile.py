from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.profile import ProfileError, load_profile, parse_profile, placeholders, render

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "targets" / "reference.toml"


def reference_data() -> dict[str, Any]:
    return tomllib.loads(REFERENCE.read_text())


def test_reference_profile_loads() -> None:
    profile = load_profile(REFERENCE)
    assert profile.name == "reference"
    assert profile.base_url == "auto"
    assert profile.provider.business_key == "order_id"
    assert profile.session.login is not None
    assert profile.session.login.json_body == {"user": "{user}"}
    assert profile.api is not None
    assert profile.api.confirm.idempotency_header == "Idempotency-Key"
    assert profile.api.read_order is not None
    assert profile.webhooks is not None and profile.webhooks.secret == "whsec_nodouble_dev"
    assert profile.capabilities() == {
        "api",
        "browser",
        "browser_spa",
        "provider_faults",
        "network_faults",
        "process",
        "webhooks",
        "read_order",
        "idempotency_key",
        "payment_method",
        "choose_card",
        "threeds",
        "capture",
        "hosted_checkout",
    }


def test_minimal_api_only_profile_and_capabilities() -> None:
    profile = parse_profile(
        {
            "name": "shop",
            "base_url": "http://127.0.0.1:8000/",
            "session": {"headers": {"alice": {"Authorization": "Bearer a"}}},
            "api": {},
        }
    )
    assert profile.base_url == "http://127.0.0.1:8000"
    assert profile.api is not None and profile.api.confirm.path == "/api/orders/{order_id}/confirm"
    assert profile.capabilities() == {
        "api", "provider_faults", "network_faults", "idempotency_key",
    }  # fmt: skip


def test_render_fills_templates_and_keeps_types() -> None:
    profile = load_profile(REFERENCE)
    assert profile.api is not None
    order = profile.api.create_order
    body = render(order.body, dict(order.params))
    assert body == {"items": [{"sku": "tee-black", "quantity": 1}]}
    assert render(profile.api.confirm.path, {"order_id": "o 1"}) == "/api/orders/o 1/confirm"
    assert placeholders({"a": ["{x}-{y}"], "b": 3}) == {"x", "y"}
    with pytest.raises(KeyError):
        render("/api/{order_id}", {})


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(reference_data())
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


DELETE = object()

BAD_CASES = [
    (
        "api.confirm.method",
        "PUTT",
        "api.confirm.method: 'PUTT' is not one of GET, POST, PUT, PATCH",
    ),
    ("name", DELETE, "name: required field is missing"),
    ("base_url", "ftp://x", "base_url: 'ftp://x' is not 'auto' or an http(s) URL"),
    (
        "api.confirm.metod",
        "POST",
        "api.confirm.metod: unknown field; allowed: body, idempotency_header, method, path",
    ),
    ("colour", "red", "colour: unknown field; allowed: api, base_url, browser, gate, name"),
    ("provider.api_key", "sk_live_1", "provider.api_key: 'sk_live_1' must start with 'sk_test_'"),
    (
        "api.confirm.path",
        "/api/orders/confirm",
        "api.confirm.path: '/api/orders/confirm' must contain {order_id}",
    ),
    (
        "api.confirm.path",
        "/api/{orderid}/confirm",
        "api.confirm.path: '/api/{orderid}/confirm' uses placeholder {orderid}, "
        "which is not one of order_id, user",
    ),
    (
        "api.create_order.order_id_pointer",
        "order_id",
        "api.create_order.order_id_pointer: 'order_id' is not a JSON pointer",
    ),
    (
        "api.create_order.body",
        {"sku": "{skew}"},
        "api.create_order: body or path uses placeholder {skew}, "
        "which is not one of quantity, sku, user",
    ),
    (
        "browser.success_url_regex",
        "(",
        "browser.success_url_regex: '(' is not a regular expression",
    ),
    (
        "browser.spa_confirm_url_regex",
        "[",
        "browser.spa_confirm_url_regex: '[' is not a regular expression",
    ),
    (
        "browser.threeds.return_url_regex",
        "(",
        "browser.threeds.return_url_regex: '(' is not a regular expression",
    ),
    (
        "browser.hosted.success_url_regex",
        "*x",
        "browser.hosted.success_url_regex: '*x' is not a regular expression",
    ),
    ("browser.selectors.pay", DELETE, "browser.selectors.pay: required field is missing"),
    ("reconcile_window_s", -1, "reconcile_window_s: -1: Input should be greater than 0"),
    (
        "session.headers",
        {"alice": {}},
        "session: give exactly one of [session.login] or [session.headers]",
    ),
    (
        "session.login.json",
        {"user": "{name}"},
        "session.login.json: uses placeholder {name}, which is not one of user",
    ),
    ("process.start", [], "process.start: List should have at least 1 item"),
    ("webhooks.secret", 5, "webhooks.secret: 5: Input should be a valid string"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_field_is_named_with_value_and_what_is_allowed(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(with_change(path, value), "targets/x.toml")
    text = str(caught.value)
    assert text.startswith(f"targets/x.toml: {message}"), text
    assert "\n" not in text


def test_several_errors_are_counted() -> None:
    data = with_change("name", DELETE)
    data["base_url"] = "nope"
    with pytest.raises(ProfileError, match=r"\(and 1 more\)$"):
        parse_profile(data, "x.toml")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no such target profile"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(ProfileError, match=r"bad.toml: not valid TOML"):
        load_profile(bad)


def test_threeds_needs_a_card_picker_and_gives_its_capabilities() -> None:
    data = with_change("browser.threeds", {})
    del data["browser"]["selectors"]["payment_method"]
    with pytest.raises(ProfileError, match=r"browser: .*\[browser\.threeds\] needs selectors"):
        parse_profile(data, "targets/x.toml")
    picker = with_change("browser.selectors.payment_method", "#card-{payment_method}")
    del picker["browser"]["threeds"]
    caps = parse_profile(picker).capabilities()
    assert "choose_card" in caps and "threeds" not in caps
    with pytest.raises(
        ProfileError, match=r"payment_method: '#card' must contain \{payment_method\}"
    ):
        parse_profile(with_change("browser.selectors.payment_method", "#card"), "x.toml")
    with pytest.raises(ProfileError, match=r"return_url_regex: '\(unclosed' is not a regular"):
        parse_profile(with_change("browser.threeds.return_url_regex", "(unclosed"), "x.toml")
