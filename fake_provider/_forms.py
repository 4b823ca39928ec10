"""Decode Stripe-style nested form bodies (``a[b][0]=x``) into plain Python values.

The stripe SDKs send every request parameter form-encoded: nested objects as
``metadata[order_id]=42``, lists with explicit indexes as ``expand[0]=latest_charge``
and booleans as ``true``/``false``. httpx and requests send a list as a repeated key
(``expand=a&expand=b``); that decodes to the same list. Values stay strings here; the endpoint that
reads a parameter decides whether it is an integer, a boolean or a string.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from fake_provider.types import FormValue

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"0|[1-9][0-9]{0,5}")
MAX_DEPTH = 8
MAX_FIELDS = 1000


class FormError(ValueError):
    """A body that is not a well-formed (nested) form; ``param`` names the culprit."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def parse_form(body: bytes | str) -> dict[str, FormValue]:
    """Decode an ``application/x-www-form-urlencoded`` body with bracketed keys."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormError("The request body is not valid UTF-8.") from exc
    else:
        text = body
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as exc:
        raise FormError("A percent-encoded value is not valid UTF-8.") from exc
    except ValueError as exc:
        raise FormError(f"The request body is not a valid form: {exc}.") from exc
    root: dict[str, FormValue] = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise FormError("NUL characters are not allowed in parameters.", key or None)
        _insert(root, key, value)
    return {k: _listify(v) for k, v in root.items()}


def _insert(root: dict[str, FormValue], key: str, value: str) -> None:
    match = _KEY.match(key)
    if match is None:
        raise FormError(f"Invalid parameter name {key!r}.", key or None)
    path = [match.group(1), *_PART.findall(match.group(2))]
    if len(path) > MAX_DEPTH:
        raise FormError(f"Parameter {key!r} is nested too deeply.", key)
    node: dict[str, FormValue] = root
    for i, part in enumerate(path[:-1]):
        if path[i + 1] == "":  # "a[]=x" appends to a list
            if i + 2 != len(path):
                raise FormError(f"Invalid parameter name {key!r}.", key)
            existing = node.setdefault(part, [])
            if not isinstance(existing, list):
                raise FormError(f"Parameter {key!r} mixes a list with another type.", key)
            existing.append(value)
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise FormError(f"Parameter {key!r} mixes an object with a plain value.", key)
        node = child
    last = path[-1]
    if last == "":
        raise FormError(f"Invalid parameter name {key!r}.", key)
    previous = node.get(last)
    if previous is None:
        node[last] = value
    elif isinstance(previous, str):  # "expand=a&expand=b", as httpx and requests send lists
        node[last] = [previous, value]
    elif isinstance(previous, list) and all(isinstance(v, str) for v in previous):
        previous.append(value)
    else:
        raise FormError(f"Parameter {key!r} mixes an object with a plain value.", key)


def _listify(value: FormValue) -> FormValue:
    """Turn dicts whose keys are exactly 0..n-1 into lists (``expand[0]``, ``expand[1]``)."""
    if isinstance(value, list):
        return [_listify(v) for v in value]
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and all(_INDEX.fullmatch(k) for k in converted):
            by_index = {int(k): v for k, v in converted.items()}
            if sorted(by_index) == list(range(len(by_index))):
                return [by_index[i] for i in range(len(by_index))]
        return converted
    return value
