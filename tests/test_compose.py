"""docker-compose.yml is for users; no Docker engine runs in CI, so it is parsed here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_services_and_profiles() -> None:
    services = _compose()["services"]
    assert {"provider", "reference-app", "postgres", "stripe-mock"} <= set(services)
    assert services["stripe-mock"]["profiles"] == ["stripe-mock"]
    for always_on in ("provider", "reference-app", "postgres"):
        assert "profiles" not in services[always_on], always_on


def test_commands_use_real_cli_options() -> None:
    from typer.main import get_command

    from harness.cli import app

    cli = get_command(app)
    services = _compose()["services"]
    for name in ("provider", "reference-app"):
        command = services[name]["command"]
        assert command[0] == "nodouble"
        sub = cli.commands[command[1]]  # type: ignore[attr-defined]
        known = {opt for param in sub.params for opt in param.opts}
        given = {arg for arg in command[2:] if arg.startswith("--")}
        assert given <= known, f"{name}: unknown options {given - known}"


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("fake_provider", "reference_app", "harness", "scenarios"):
        assert f"COPY {package} ./{package}" in dockerfile
