"""JSON Pointer (RFC 6901) lookups for reading ids and states out of response bodies."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


def resolve_pointer(document: Any, pointer: str, default: Any = None) -> Any:
    """The value at ``pointer`` in ``document``, or ``default`` when there is none."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise ValueError(f"a JSON pointer starts with '/', not {pointer!r}")
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return default
    return current
