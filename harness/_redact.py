"""Secrets never reach a history or a report.

Histories end up in reports that people share, so whatever authenticates anybody is
masked as soon as a driver records it, and again before any report is written:

- header values of ``Authorization``, ``Cookie``, ``Set-Cookie``, ``Stripe-Signature`` and
  API-key headers, and fields named like secrets (password, token, api_key, ...) become
  ``***``;
- API keys inside any text keep their prefix (``sk_test_***``), webhook secrets become
  ``whsec_***``, and credentials in URLs become ``***@``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
BODY_LIMIT = 4096
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "stripe-signature",
        "x-api-key",
        "api-key",
    }
)
_SECRET_FIELD = re.compile(
    r"(password|passwd|secret|token|api_?key|card_?number|cvc|authorization|cookie)", re.I
)
_KEY = re.compile(r"\b((?:sk|rk|pk)_(?:test|live))_[A-Za-z0-9]+")
_WHSEC = re.compile(r"\bwhsec_[A-Za-z0-9_]+")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact_text(text: str) -> str:
    """Mask API keys, webhook secrets and URL credentials inside free text."""
    text = _KEY.sub(lambda m: f"{m.group(1)}_{MASK}", text)
    text = _WHSEC.sub(f"whsec_{MASK}", text)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def redact_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """Headers as a plain dict with lower-case names and secret values masked."""
    out: dict[str, str] = {}
    items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
    for name, value in items:
        key = str(name).lower()
        shown = MASK if key in SECRET_HEADERS else redact_text(str(value))
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


def redact(value: Any) -> Any:
    """A deep copy of a JSON-like value with secret fields and embedded secrets masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            str(k): MASK
            if (_SECRET_FIELD.search(str(k)) or str(k).lower() in SECRET_HEADERS)
            and v not in (None, "")
            else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Keep the first ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"
