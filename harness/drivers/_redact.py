"""Remove secrets from what drivers record: auth headers, cookies and API keys.

Histories end up in reports that people share, so nothing that authenticates anybody
may be written into them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_VALUE = re.compile(r"\b((?:sk|rk|pk)_(?:test|live)_|whsec_)[A-Za-z0-9]+")
_SECRET_FIELD = re.compile(r"(password|passwd|secret|token|api_?key|card_?number|cvc)", re.I)
BODY_LIMIT = 4096


def redact_text(text: str) -> str:
    """Replace API keys and webhook secrets inside free text."""
    return _SECRET_VALUE.sub(lambda m: m.group(1) + REDACTED, text)


def redact_headers(headers: Mapping[str, str] | Any) -> dict[str, str]:
    """Headers as a plain dict with lower-case names and secret values hidden."""
    out: dict[str, str] = {}
    items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
    for name, value in items:
        key = str(name).lower()
        shown = REDACTED if key in SECRET_HEADERS else redact_text(str(value))
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


def redact_body(body: Any) -> Any:
    """A JSON-like value with secret fields and embedded API keys hidden."""
    if isinstance(body, Mapping):
        return {
            str(k): REDACTED if _SECRET_FIELD.search(str(k)) else redact_body(v)
            for k, v in body.items()
        }
    if isinstance(body, list | tuple):
        return [redact_body(item) for item in body]
    if isinstance(body, str):
        return redact_text(body)
    return body


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Keep the first ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"
