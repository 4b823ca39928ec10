"""Checkouts that refuse a POST without a CSRF token: Django, Rails and Laravel styles.

``two_step`` runs behind ``_shopkit.csrf_guard`` (``SHOP_CSRF``), which answers 403 to any
POST, sign-in included, without the session's token. With ``[session.csrf]`` saying where
the token is and how it goes back, the harness pays and judges as usual; without it, the
first run stops at the probe purchase with the refusal named (exit 2), never a verdict
drawn from 403 answers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _gallery import GALLERY, RunResult, Variant, run_variant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SECTIONS = {
    "cookie": 'csrf = { source = "cookie", name = "csrftoken", header = "X-CSRFToken" }',
    "meta": 'csrf = { source = "meta", name = "csrf-token", page = "/csrf", '
    'header = "X-CSRF-Token" }',
    "field": 'csrf = { source = "field", name = "_token", page = "/csrf", field = "_token" }',
}
CASES = [(style, True) for style in SECTIONS] + [("cookie", False)]


def template(tmp: Path, style: str, with_section: bool) -> Path:
    text = (GALLERY / "two_step" / "two_step.toml.in").read_text()
    text = text.replace("env = { ", f'env = {{ SHOP_CSRF = "{style}", ', 1)
    if with_section:
        text = text.replace(
            "[session.login]", f"[session]\n{SECTIONS[style]}\n\n[session.login]", 1
        )
    path = tmp / f"two_step_{style}_{'with' if with_section else 'without'}.toml.in"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], RunResult]:
    root = tmp_path_factory.mktemp("csrf")
    jobs = {case: (template(root, *case), root / f"{case[0]}-{case[1]}") for case in CASES}
    with ThreadPoolExecutor(len(CASES)) as pool:
        futures = {
            case: pool.submit(run_variant, Variant(path), workdir,
                              scenarios=("api.same_key_sequential",))
            for case, (path, workdir) in jobs.items()
        }  # fmt: skip
        return {case: future.result() for case, future in futures.items()}


@pytest.mark.parametrize("style", list(SECTIONS))
def test_with_the_token_the_run_pays_and_passes(
    style: str, results: dict[tuple[str, bool], RunResult]
) -> None:
    result = results[(style, True)]
    assert result.code == 0, result.stdout + result.stderr
    [run] = result.runs
    assert run["status"] == "passed", run["reason"]
    assert [row["kind"] for row in run["ledger"]].count("charge") == 1


def test_without_it_the_refusal_is_named_before_any_verdict(
    results: dict[tuple[str, bool], RunResult],
) -> None:
    result = results[("cookie", False)]
    assert result.code == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "login as" in output and "HTTP 403" in output
