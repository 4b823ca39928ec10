"""examples/ci/github-actions.yml and docs/ci.md: valid YAML, real commands and options.

No GitHub runner runs here, so the workflow is parsed, and every ``nodouble`` command
line in it (and in docs/ci.md) is checked against the typer app itself.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from harness.cli import app

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "ci" / "github-actions.yml"
DOC = ROOT / "docs" / "ci.md"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _steps() -> list[dict[str, Any]]:
    (job,) = _workflow()["jobs"].values()
    steps = job["steps"]
    assert isinstance(steps, list)
    return steps


def _nodouble_lines(text: str) -> list[list[str]]:
    """Every ``nodouble …`` command in shell text, split like a shell would."""
    commands = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        match = re.search(r"(?:^|[;&|]\s*)nodouble\s+(.*)$", line)
        if match:
            words = shlex.split(match.group(1).split(">", 1)[0].rstrip("& "))
            commands.append(words)
    return commands


def _check_command(words: list[str]) -> None:
    cli: Any = get_command(app)
    assert words, "a bare 'nodouble'"
    sub = cli.commands.get(words[0])
    assert sub is not None, f"nodouble has no command {words[0]!r}"
    known = {opt for param in sub.params for opt in (*param.opts, *param.secondary_opts)}
    given = {w.split("=", 1)[0] for w in words[1:] if w.startswith("--")}
    assert given <= known, f"nodouble {words[0]}: unknown options {sorted(given - known)}"
    # and click itself accepts the whole line (types, ranges, arguments)
    ctx = sub.make_context(f"nodouble {words[0]}", list(words[1:]), resilient_parsing=False)
    ctx.close()


def test_workflow_is_valid_yaml_with_triggers_and_one_job() -> None:
    data = _workflow()
    triggers = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(triggers, dict) and "pull_request" in triggers
    assert len(data["jobs"]) == 1
    for step in _steps():
        assert "uses" in step or "run" in step, step


def test_every_nodouble_command_and_option_exists() -> None:
    commands = [words for step in _steps() for words in _nodouble_lines(step.get("run", ""))]
    assert [c[0] for c in commands] == ["provider", "run"]
    for words in commands:
        _check_command(words)


def test_the_run_step_gates_and_the_report_is_uploaded_even_on_failure() -> None:
    steps = _steps()
    runs = [s for s in steps if "nodouble run" in s.get("run", "")]
    (run_step,) = runs
    (words,) = _nodouble_lines(run_step["run"])
    assert "--target" in words and "--report-dir" in words
    report_dir = words[words.index("--report-dir") + 1]
    # nothing swallows the exit code: the step fails when nodouble exits non-zero
    assert "|| true" not in run_step["run"] and not run_step.get("continue-on-error")

    (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert "always()" in str(upload.get("if"))
    assert steps.index(upload) > steps.index(run_step)
    assert report_dir.rstrip("/") + "/" in upload["with"]["path"]


def test_the_checkout_is_pointed_at_the_provider_that_is_started() -> None:
    steps = _steps()
    (provider,) = _nodouble_lines(
        next(s["run"] for s in steps if "nodouble provider" in s.get("run", ""))
    )
    port = provider[provider.index("--port") + 1]
    shop = next(s for s in steps if "STRIPE_API_BASE" in s.get("env", {}))
    assert shop["env"]["STRIPE_API_BASE"] == f"http://127.0.0.1:{port}"
    assert shop["env"]["STRIPE_SECRET_KEY"].startswith("sk_test_")
    order = [steps.index(s) for s in steps if "nodouble provider" in s.get("run", "")]
    assert order[0] < steps.index(shop), "the provider starts before the checkout"
    installs = " ".join(s.get("run", "") for s in steps)
    assert "pip install no-double-charge" in installs
    assert "playwright install --with-deps chromium" in installs


BLOCKS = re.findall(r"```(?:sh|yaml)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_commands_in_the_ci_doc_exist(block: str) -> None:
    for words in _nodouble_lines(block):
        _check_command(words)


def test_the_doc_points_at_the_example_and_documents_every_exit_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "examples/ci/github-actions.yml" in text
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in text
    assert "stripe.api_base" in text and "base_addresses" in text
    assert 'host: "127.0.0.1", port: 12111, protocol: "http"' in text
