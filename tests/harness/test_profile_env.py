"""``${VAR}``, free ports and the started provider in target profiles."""

from __future__ import annotations

import re
import socket
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from harness._profile_env import EnvError, expand, prepare
from harness.cli import app
from harness.profile import ProfileError, load_profile, parse_profile
from harness.target import open_target

DOC = Path(__file__).resolve().parents[2] / "docs" / "targets.md"

MINIMAL: dict[str, Any] = {
    "name": "shop",
    "base_url": "http://127.0.0.1:${SHOP_PORT:-8000}",
    "provider": {"url": "http://127.0.0.1:12111"},
    "session": {"users": ["alice"], "login": {"path": "/login", "json": {"user": "{user}"}}},
}


def test_variables_defaults_and_escapes() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert expand("x${A}y", env) == "x1y"
    assert expand("${EMPTY:-d}|${MISSING:-d}|${A:-d}", env) == "d|d|1"
    assert expand("$${A} and $A and {order_id}", env) == "${A} and $A and {order_id}"
    assert expand({"l": ["${A}", 2, None]}, env) == {"l": ["1", 2, None]}
    assert expand("${MISSING:-}", env) == ""


def test_an_unset_variable_names_the_field() -> None:
    data = {**MINIMAL, "session": {"users": ["alice"], "login": {"path": "/in/${NOPE}"}}}
    with pytest.raises(ProfileError) as caught:
        parse_profile(data, "shop.toml", environ={})
    assert str(caught.value) == (
        "shop.toml: session.login.path: ${NOPE} is not set in the environment "
        "(set it, or give a default: ${NOPE:-value})"
    )


def test_a_filled_value_is_validated_as_what_it_became() -> None:
    profile = parse_profile(MINIMAL, environ={"SHOP_PORT": "9123"})
    assert profile.base_url == "http://127.0.0.1:9123"
    with pytest.raises(ProfileError, match="base_url"):
        parse_profile({**MINIMAL, "base_url": "${URL}"}, environ={"URL": "ftp://x"})


def test_auto_ports_are_free_distinct_and_usable_everywhere() -> None:
    data = {
        **MINIMAL,
        "base_url": "http://127.0.0.1:${WEB}",
        "process": {"start": ["shop", "--admin", "${ADMIN}"],
                    "env": {"WEB": "auto", "ADMIN": "auto", "SAME": "${WEB}"}},
    }  # fmt: skip
    profile = parse_profile(data, environ={})
    assert profile.process is not None
    env = profile.process.env
    web, admin = int(env["WEB"]), int(env["ADMIN"])
    assert web != admin and env["SAME"] == str(web)
    assert profile.base_url == f"http://127.0.0.1:{web}"
    assert profile.process.start == ["shop", "--admin", str(admin)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", web))  # still free: nothing holds it


def test_provider_auto_hands_url_key_and_secret_to_the_checkout() -> None:
    data = {
        **MINIMAL,
        "provider": {"url": "auto", "api_key": "sk_test_${ACCOUNT}"},
        "webhooks": {"path": "/hooks", "secret": "whsec_${ACCOUNT}"},
        "process": {"start": ["shop", "${NODOUBLE_PROVIDER_URL}"],
                    "env": {"KEY": "${NODOUBLE_PROVIDER_API_KEY}"}},
    }  # fmt: skip
    filled = prepare(data, {"ACCOUNT": "acme"})
    port = filled["provider"]["port"]
    assert filled["process"]["start"] == ["shop", f"http://127.0.0.1:{port}"]
    assert filled["process"]["env"]["KEY"] == "sk_test_acme"
    profile = parse_profile(data, environ={"ACCOUNT": "acme"})
    assert profile.provider.url == "auto" and profile.provider.port > 0


def test_an_entry_may_read_the_callers_variable_of_the_same_name() -> None:
    data = {**MINIMAL, "process": {"start": ["x"], "env": {"MODE": "${MODE:-plain}"}}}
    for environ, want in (({}, "plain"), ({"MODE": "odd"}, "odd")):
        profile = parse_profile(data, environ=environ)
        assert profile.process is not None and profile.process.env["MODE"] == want


def test_embedded_target_gets_no_provider_variables() -> None:
    data = {**MINIMAL, "base_url": "auto", "provider": {"url": "auto"},
            "process": {"start": ["x", "${NODOUBLE_PROVIDER_URL}"]}}  # fmt: skip
    with pytest.raises(ProfileError, match=r"NODOUBLE_PROVIDER_URL\} is not set"):
        parse_profile(data, environ={})


def test_every_documented_profile_example_loads() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    profiles = [b for b in blocks if re.search(r"^name = ", b, re.M)]
    assert profiles, "docs/targets.md shows no whole profile"
    for block in profiles:
        assert parse_profile(tomllib.loads(block), "docs/targets.md", environ={}).name


def test_cli_unset_variable_is_exit_2_one_line(tmp_path: Path) -> None:
    path = tmp_path / "shop.toml"
    path.write_text('name = "s"\nbase_url = "${NODOUBLE_TEST_SURELY_UNSET}"\n'
                    '[session]\nusers = ["a"]\n')  # fmt: skip
    result = CliRunner().invoke(app, ["run", "--target", str(path)])
    assert result.exit_code == 2
    assert "base_url: ${NODOUBLE_TEST_SURELY_UNSET} is not set" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(ProfileError):
        load_profile(path)


def test_provider_auto_without_process_needs_a_port(tmp_path: Path) -> None:
    profile = parse_profile({**MINIMAL, "provider": {"url": "auto"}}, environ={})
    with pytest.raises(ValueError, match=r"add \[process\]"):
        open_target(profile.model_copy(update={"provider": profile.provider.model_copy(
            update={"port": 0})}), tmp_path)  # fmt: skip


def test_provider_auto_with_a_port_starts_it_there(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    profile = parse_profile({**MINIMAL, "provider": {"url": "auto", "port": port}}, environ={})
    target = open_target(profile, tmp_path)
    try:
        assert target.provider_url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{target.provider_url}/healthz").status_code == 200
    finally:
        target.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def test_a_default_may_name_variables_in_turn() -> None:
    env = {"B": "b", "EMPTY": ""}
    assert expand("${A:-${B}}", env) == "b"
    assert expand("${A:-${C:-${EMPTY:-deep}}}/x", env) == "deep/x"
    assert expand("${B:-${NOT_READ}}", env) == "b"  # a default not taken is not filled
    with pytest.raises(EnvError, match=r"^f: \$\{C\} is not set"):
        expand("${A:-${C}}", env, "f")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("${A:-${B}", "f: '${A:-${B}' opens ${ and never closes it (a literal: $${)"),
        ("${A:x}", "f: ${A:x} is not ${NAME} or ${NAME:-default} (a literal: $${)"),
    ],
)
def test_a_broken_reference_is_one_line_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(EnvError) as caught:
        expand(text, {"A": "1", "B": "2"}, "f")
    assert str(caught.value) == says


def test_auto_is_a_port_only_where_the_profile_names_it() -> None:
    data = {
        **MINIMAL,
        "base_url": "http://127.0.0.1:${WEB:-1}",
        "process": {"start": ["shop"], "env": {"WEB": "auto", "MODE": "auto"}},
    }
    profile = parse_profile(data, environ={})
    assert profile.process is not None
    assert int(profile.process.env["WEB"]) > 0
    assert profile.process.env["MODE"] == "auto"  # named nowhere: the word itself
