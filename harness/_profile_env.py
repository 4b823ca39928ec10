"""What a profile takes from its surroundings: ``${VAR}``, free ports, the started provider.

Before a profile is validated, every string in it may name environment variables:
``${VAR}`` (an error when ``VAR`` is unset) or ``${VAR:-default}`` (the default when it is
unset or empty; the default may itself name variables: ``${A:-${B:-x}}``); ``$${`` stands
for a literal ``${``, and a ``${`` never closed is an error naming the field. Besides the
caller's environment the variables include:

- each ``[process.env]`` entry whose value is ``"auto"`` *and whose name the profile uses
  as* ``${NAME}`` *somewhere*: a free loopback TCP port, chosen here and passed to the
  checkout under that name like any other entry. A port nobody refers to could not be
  reached (the harness finds the checkout through ``base_url``), so an ``"auto"`` no field
  names is an ordinary value and reaches the checkout as the word ``auto``;
- when the harness starts the fake provider for a checkout it does not start itself
  (``[provider] url = "auto"`` with a ``base_url`` of your own): ``NODOUBLE_PROVIDER_URL``,
  ``NODOUBLE_PROVIDER_HOST``, ``NODOUBLE_PROVIDER_PORT`` (the port is chosen here too, or
  ``[provider] port``), ``NODOUBLE_PROVIDER_API_KEY`` and, with ``[webhooks]``,
  ``NODOUBLE_WEBHOOK_SECRET``. The checkout's ``[process]`` gets them in its environment.

So one profile describes a checkout that reads its port and its provider from the
environment, with no wrapper script that fills a template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness._process import free_port

AUTO = "auto"
HOST = "127.0.0.1"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


class EnvError(ValueError):
    """A ``${VAR}`` cannot be filled; the message names the field."""


def provider_variables(port: int, api_key: str, webhook_secret: str | None) -> dict[str, str]:
    """The variables naming the fake provider the harness starts on ``port``."""
    found = {
        "NODOUBLE_PROVIDER_URL": f"http://{HOST}:{port}",
        "NODOUBLE_PROVIDER_HOST": HOST,
        "NODOUBLE_PROVIDER_PORT": str(port),
        "NODOUBLE_PROVIDER_API_KEY": api_key,
    }
    if webhook_secret:
        found["NODOUBLE_WEBHOOK_SECRET"] = webhook_secret
    return found


def _closing(text: str, start: int) -> int | None:
    """Index of the ``}`` that closes the ``${`` at ``start`` (nested ``${`` counted)."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _fill(text: str, variables: Mapping[str, str], where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):  # $${X} -> ${X}, left as it is
            out.append("${")
            i += 3
            continue
        if not text.startswith("${", i):
            out.append(text[i])
            i += 1
            continue
        end = _closing(text, i)
        if end is None:
            raise EnvError(f"{where}: {text!r} opens ${{ and never closes it (a literal: $${{)")
        name, sep, default = text[i + 2 : end].partition(":-")
        if not _NAME.fullmatch(name):
            raise EnvError(
                f"{where}: ${{{text[i + 2 : end]}}} is not ${{NAME}} or ${{NAME:-default}} "
                "(a literal: $${)"
            )
        value = variables.get(name)
        if sep and not value:
            out.append(_fill(default, variables, where))
        elif value is None:
            raise EnvError(
                f"{where}: ${{{name}}} is not set in the environment "
                f"(set it, or give a default: ${{{name}:-value}})"
            )
        else:
            out.append(value)
        i = end + 1
    return "".join(out)


def _named(value: Any) -> set[str]:
    """Every variable name ``value``'s strings refer to as ``${NAME``."""
    if isinstance(value, str):
        return set(_USE.findall(value))
    if isinstance(value, dict):
        return set().union(*(_named(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_named(v) for v in value))
    return set()


def expand(value: Any, variables: Mapping[str, str], where: str = "") -> Any:
    """``value`` with every ``${VAR}`` in its strings filled; tables and lists recursively."""
    if isinstance(value, str):
        return _fill(value, variables, where or "(top level)")
    if isinstance(value, dict):
        return {
            k: expand(v, variables, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def prepare(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Parsed TOML with its ``auto`` ports chosen and its ``${VAR}`` filled (not validated).

    The provider's own fields and ``[webhooks]`` are filled first, from the environment
    and the free ports alone, so that the key and the secret can be handed on.
    """
    data = dict(data)
    variables = dict(environ)
    process = data.get("process")
    if isinstance(process, dict) and isinstance(process.get("env"), dict):
        used = _named(data)
        ports = {
            k: str(free_port(HOST)) for k, v in process["env"].items() if v == AUTO and k in used
        }
        variables.update(ports)
        data["process"] = {**process, "env": {**process["env"], **ports}}
    provider = data.get("provider")
    provider = dict(provider) if isinstance(provider, dict) else {}
    provider = expand(provider, variables, "provider")
    webhooks = expand(data.get("webhooks"), variables, "webhooks")
    starts_fake = provider.get("ledger", "fake") != "stripe"  # Stripe's test mode: no fake
    if provider.get("url", AUTO) == AUTO and data.get("base_url") != AUTO and starts_fake:
        port = provider.get("port") or free_port(HOST)
        provider["port"] = port
        secret = webhooks.get("secret") if isinstance(webhooks, dict) else None
        variables.update(
            provider_variables(port, str(provider.get("api_key", "sk_test_nodouble")), secret)
        )
    filled: dict[str, Any] = {
        k: expand(v, variables, k) for k, v in data.items() if k not in ("provider", "webhooks")
    }
    filled["provider"] = provider
    if webhooks is not None:
        filled["webhooks"] = webhooks
    return filled
