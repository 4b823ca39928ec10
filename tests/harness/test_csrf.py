"""CSRF tokens: found in cookies, meta tags and form inputs, and put on unsafe requests."""

from __future__ import annotations

import httpx
import pytest

from harness.drivers._csrf import CsrfError, CsrfTokens, find_in_page
from harness.profile import CsrfSection, ProfileError, parse_profile


def test_tokens_are_found_whatever_the_attribute_order_and_quoting() -> None:
    page = (
        "<meta content='x' name='other'><meta content=\"a&amp;b\" name=\"csrf-token\">"
        '<input type=hidden value=tok1 name=_token><input name="_token2" value="no">'
    )
    assert find_in_page(page, "meta", "csrf-token") == "a&b"
    assert find_in_page(page, "field", "_token") == "tok1"
    assert find_in_page(page, "meta", "missing") is None


def client(pages: dict[str, tuple[int, str]], hits: list[str]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        status, body = pages.get(request.url.path, (404, ""))
        headers = {"set-cookie": "csrftoken=c1; Path=/"} if request.url.path == "/login" else {}
        return httpx.Response(status, text=body, headers=headers)

    return httpx.Client(base_url="http://shop", transport=httpx.MockTransport(handler))


def test_a_page_token_is_fetched_once_and_again_after_forget() -> None:
    hits: list[str] = []
    spec = CsrfSection(source="meta", name="t", page="/p", header="X-T")
    tokens = CsrfTokens(spec)
    with client({"/p": (200, '<meta name="t" content="v">')}, hits) as c:
        headers, body, data = tokens.apply(c, "POST", {}, {"a": 1}, None)
        assert (headers, body, data) == ({"X-T": "v"}, {"a": 1}, None)
        tokens.apply(c, "PUT", {}, None, None)
        assert hits == ["/p"]
        assert tokens.apply(c, "GET", {}, None, None) == ({}, None, None)  # safe: untouched
        tokens.forget()
        tokens.apply(c, "DELETE", {}, None, None)
        assert hits == ["/p", "/p"]


def test_field_tokens_go_into_json_or_form_bodies() -> None:
    spec = CsrfSection(source="field", name="_token", page="/f", field="_token")
    tokens = CsrfTokens(spec)
    with client({"/f": (200, '<input name="_token" value="z">')}, []) as c:
        assert tokens.apply(c, "POST", {}, {"a": 1}, None)[1] == {"a": 1, "_token": "z"}
        assert tokens.apply(c, "POST", {}, None, {"u": "x"})[2] == {"u": "x", "_token": "z"}
        with pytest.raises(CsrfError, match="needs a JSON object"):
            tokens.apply(c, "POST", {}, [1, 2], None)


def test_a_cookie_token_may_come_with_any_answer_and_a_missing_one_is_named() -> None:
    spec = CsrfSection(source="cookie", name="csrftoken", page="/login", header="X-CSRFToken")
    with client({}, []) as c:  # /login answers 404 but sets the cookie
        assert CsrfTokens(spec).apply(c, "POST", {}, None, None)[0] == {"X-CSRFToken": "c1"}
    other = CsrfSection(source="cookie", name="nope", page="/login", header="X")
    with (
        client({}, []) as c,
        pytest.raises(CsrfError, match=r"no cookie 'nope' after GET /login \(HTTP 404\)"),
    ):
        CsrfTokens(other).apply(c, "POST", {}, None, None)


def test_a_page_without_the_token_is_named() -> None:
    spec = CsrfSection(source="meta", name="t", page="/p", header="X")
    with client({"/p": (200, "<html></html>")}, []) as c, pytest.raises(CsrfError) as caught:
        CsrfTokens(spec).apply(c, "POST", {}, None, None)
    assert "GET /p has no <meta name=...> named 't'" in str(caught.value)
    with client({}, []) as c, pytest.raises(CsrfError, match="answered HTTP 404"):
        CsrfTokens(spec).apply(c, "POST", {}, None, None)


def test_the_profile_needs_exactly_one_way_to_send_it() -> None:
    base = {"name": "s", "base_url": "http://x", "provider": {"url": "http://p"},
            "session": {"login": {"path": "/in"}}}  # fmt: skip
    for csrf in ({"source": "cookie", "name": "c"},
                 {"source": "cookie", "name": "c", "header": "X", "field": "f"}):  # fmt: skip
        data = {**base, "session": {**base["session"], "csrf": csrf}}  # type: ignore[dict-item]
        with pytest.raises(ProfileError, match="exactly one of header or field"):
            parse_profile(data, environ={})


def test_a_url_encoded_cookie_token_is_sent_decoded() -> None:
    """Laravel's XSRF-TOKEN cookie is URL-encoded; its header wants the decoded value."""
    spec = CsrfSection(source="cookie", name="XSRF-TOKEN", header="X-XSRF-TOKEN")
    with httpx.Client(base_url="http://shop", cookies={"XSRF-TOKEN": "ab%3D%3D"}) as c:
        assert CsrfTokens(spec).apply(c, "POST", {}, None, None)[0] == {"X-XSRF-TOKEN": "ab=="}
