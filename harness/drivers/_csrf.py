"""CSRF tokens for frameworks that refuse an unsafe request without one.

Django reads a cookie back from a header (``csrftoken`` → ``X-CSRFToken``), Rails puts the
token in a ``<meta name="csrf-token">`` tag of its pages (→ ``X-CSRF-Token``), Laravel and
many form frameworks in a hidden ``<input name="_token">`` (→ the same field of the
body). The profile's ``[session.csrf]`` says which; :class:`CsrfTokens` finds the token and
puts it on every POST, PUT, PATCH and DELETE the API driver sends, sign-in included.

A page is fetched before the first unsafe request and again after each sign-in (most
frameworks rotate the token when the session changes); a cookie is read from the cookie
jar every time. A token that cannot be found is an error naming the profile field, never
a request sent without it: a refusal (403) would otherwise read as the checkout's answer.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Mapping
from typing import Any, Literal, Protocol
from urllib.parse import unquote

import httpx

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfSpec(Protocol):
    @property
    def source(self) -> Literal["cookie", "meta", "field"]: ...
    @property
    def name(self) -> str: ...
    @property
    def page(self) -> str: ...
    @property
    def header(self) -> str | None: ...
    @property
    def field(self) -> str | None: ...


class CsrfError(RuntimeError):
    """No token could be found; the message names the ``[session.csrf]`` field to fix."""


def _attribute(tag: str, name: str) -> str | None:
    found = re.search(rf"""\b{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", tag, re.I)
    if found is None:
        return None
    return html.unescape(next(g for g in found.groups() if g is not None))


def find_in_page(text: str, source: Literal["meta", "field"], name: str) -> str | None:
    """The token of ``<meta name=NAME content=...>`` or ``<input name=NAME value=...>``."""
    tag_name, value_attr = ("meta", "content") if source == "meta" else ("input", "value")
    for tag in re.findall(rf"<{tag_name}\b[^>]*>", text, re.I):
        if _attribute(tag, "name") == name:
            return _attribute(tag, value_attr)
    return None


class CsrfTokens:
    """The token of one session (one API driver), shared by the threads of a burst."""

    def __init__(self, spec: CsrfSpec) -> None:
        self.spec = spec
        self._token: str | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        """The session changed (a sign-in): fetch the page again before the next request."""
        with self._lock:
            self._token = None

    def token(self, client: httpx.Client) -> str:
        spec = self.spec
        with self._lock:
            if spec.source == "cookie":
                value = client.cookies.get(spec.name)
                if value is None:  # any answer may set it, a 404 included
                    status = self._fetch(client, strict=False).status_code
                    value = client.cookies.get(spec.name)
                    if value is None:
                        raise CsrfError(
                            f"no cookie {spec.name!r} after GET {spec.page} (HTTP {status}): "
                            "fix [session.csrf] name or page"
                        )
                return unquote(value)  # Laravel's XSRF-TOKEN cookie is URL-encoded
            if self._token is None:
                page = self._fetch(client)
                self._token = find_in_page(page.text, spec.source, spec.name)
                if self._token is None:
                    tag = "<meta name=...>" if spec.source == "meta" else "<input name=...>"
                    raise CsrfError(
                        f"GET {spec.page} has no {tag} named {spec.name!r}: fix "
                        "[session.csrf] page, source or name"
                    )
            return self._token

    def _fetch(self, client: httpx.Client, strict: bool = True) -> httpx.Response:
        try:
            page = client.get(self.spec.page, headers={"Accept": "text/html"})
        except httpx.HTTPError as exc:
            raise CsrfError(f"GET {self.spec.page} for the CSRF token failed: {exc!r}") from None
        if strict and page.status_code >= 400:
            raise CsrfError(
                f"GET {self.spec.page} for the CSRF token answered HTTP {page.status_code}: "
                "fix [session.csrf] page"
            )
        return page

    def apply(
        self,
        client: httpx.Client,
        method: str,
        headers: dict[str, str],
        json: Any,
        data: Mapping[str, Any] | None,
    ) -> tuple[dict[str, str], Any, Mapping[str, Any] | None]:
        """``headers``, ``json`` and ``data`` with the token added, for an unsafe method."""
        if method.upper() not in UNSAFE:
            return headers, json, data
        token = self.token(client)
        if self.spec.header is not None:
            return {**headers, self.spec.header: token}, json, data
        field = self.spec.field or self.spec.name
        if data is not None or json is None:
            return headers, json, {**(data or {}), field: token}
        if isinstance(json, dict):
            return headers, {**json, field: token}, data
        raise CsrfError(f"[session.csrf] field {field!r} needs a JSON object or form body")
