"""The nested form decoder: exact on what the stripe SDK sends, only FormError on garbage."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from fake_provider._forms import FormError, parse_form


def test_decodes_what_the_sdk_sends() -> None:
    body = urlencode(
        list(
            _api_encode(
                {
                    "amount": 1000,
                    "confirm": True,
                    "metadata": {"order_id": "o-1", "empty": ""},
                    "expand": ["latest_charge", "payment_method"],
                    "automatic_payment_methods": {"enabled": False},
                }
            )
        )
    )
    assert parse_form(body) == {
        "amount": "1000",
        "confirm": "true",
        "metadata": {"order_id": "o-1", "empty": ""},
        "expand": ["latest_charge", "payment_method"],
        "automatic_payment_methods": {"enabled": "false"},
    }


def test_decodes_what_httpx_and_requests_send() -> None:
    import httpx
    import requests

    data = {"amount": 1000, "expand": ["latest_charge", "payment_method"], "confirm": True}
    via_httpx = httpx.Request("POST", "http://x", data=data).read()
    via_requests = requests.Request("POST", "http://x", data=data).prepare().body
    assert isinstance(via_requests, str)
    # httpx sends true, requests sends True; both repeat the key for a list
    assert parse_form(via_httpx) == {
        "amount": "1000",
        "expand": ["latest_charge", "payment_method"],
        "confirm": "true",
    }
    assert parse_form(via_requests)["expand"] == ["latest_charge", "payment_method"]
    assert parse_form(via_requests)["confirm"] == "True"
    assert parse_form("metadata[order_id]=&description=") == {
        "metadata": {"order_id": ""},
        "description": "",
    }


def test_lists_of_objects_and_empty_brackets() -> None:
    assert parse_form(b"items[0][price]=p1&items[1][price]=p2&tags[]=a&tags[]=b") == {
        "items": [{"price": "p1"}, {"price": "p2"}],
        "tags": ["a", "b"],
    }


def test_sparse_indexes_stay_an_object() -> None:
    assert parse_form("a[0]=x&a[2]=y") == {"a": {"0": "x", "2": "y"}}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"a[]=1&a[b]=2", "a[b]"),
        (b"a[b]=1&a=2&a=3", "a"),
        (b"a=1&a[b]=2", "a[b]"),
        (b"a[b]=2&a=1", "a"),
        (b"a[=1", "a["),
        (b"[x]=1", "[x]"),
        (b"a[][b]=1", "a[][b]"),
        (b"amount=%ff", None),
        (b"\xff\xfe", None),
        (b"a" + b"[b]" * 9 + b"=1", "a" + "[b]" * 9),
    ],
)
def test_malformed_bodies_raise_form_error(body: bytes, param: str | None) -> None:
    with pytest.raises(FormError) as info:
        parse_form(body)
    assert info.value.param == param
    assert info.value.message


scalars = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
names = st.text(st.characters(codec="ascii", exclude_characters="[]\x00"), min_size=1, max_size=6)
values: Any = st.recursive(
    scalars | st.booleans() | st.integers(-(10**6), 10**6),
    lambda inner: (
        st.dictionaries(names.filter(lambda n: not n.isdigit()), inner, min_size=1, max_size=3)
        | st.lists(scalars, min_size=1, max_size=3)
    ),
    max_leaves=10,
)


def _expected(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v) for v in value]
    return str(value)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.dictionaries(names.filter(lambda n: not n.isdigit()), values, max_size=4))
def test_round_trips_the_sdk_encoding(data: dict[str, Any]) -> None:
    body = urlencode(list(_api_encode(data)))
    assert parse_form(body) == _expected(data)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_else(body: bytes) -> None:
    try:
        result = parse_form(body)
    except FormError:
        return
    assert isinstance(result, dict)


@given(st.text(alphabet="ab[]=&%0f9x ", max_size=60))
def test_bracket_soup_never_raises_anything_else(body: str) -> None:
    with contextlib.suppress(FormError):
        parse_form(body)
