"""Redaction of secrets before anything is written to a report.

Header values (``Authorization``, ``Cookie``, ``Set-Cookie``, ``Stripe-Signature``, API key
headers) and fields named like secrets become ``***``; API keys inside any string keep
their prefix (``sk_test_***``), webhook secrets become ``whsec_***``; credentials in URLs
become ``***@``.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SECRET_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "stripe-signature",
        "x-api-key",
        "api-key",
        "api_key",
        "secret",
        "password",
        "webhook_secret",
        "client_secret",
    }
)
_KEY = re.compile(r"\b((?:sk|rk|pk)_(?:test|live))_[A-Za-z0-9]+")
_WHSEC = re.compile(r"\bwhsec_[A-Za-z0-9_]+")
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact_text(text: str) -> str:
    text = _KEY.sub(lambda m: f"{m.group(1)}_{MASK}", text)
    text = _WHSEC.sub(f"whsec_{MASK}", text)
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with secrets masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: MASK if str(k).lower() in SECRET_NAMES and v not in (None, "") else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
