"""The ``nodouble`` command line, driven through typer's ``CliRunner``.

Exit codes are the CI contract: 0 every applicable scenario passed, 1 one failed (or
nothing could be judged), 2 bad usage with a one-line message naming what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _broken_shop import start_shop, write_profile
from junitparser import Failure, JUnitXml, Skipped
from typer.testing import CliRunner

from harness import _cli_run
from harness._process import ServerProcess
from harness.cli import app
from harness.target import REFERENCE_PROFILE
from scenarios import catalog

HERE = Path(__file__).resolve().parent
BAD_PROFILE = HERE / "targets" / "bad_method.toml"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    return CliRunner()


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    return lines[0]


def _suite_counts(path: Path) -> tuple[int, int, int, int]:
    xml = JUnitXml.fromfile(str(path))
    tests = failures = errors = skipped = 0
    for suite in xml:
        tests += suite.tests
        failures += suite.failures
        errors += suite.errors
        skipped += suite.skipped
    return tests, failures, errors, skipped


def _cases(path: Path) -> list[tuple[str, str, list[object]]]:
    return [
        (case.classname, case.name, list(case.result))
        for suite in JUnitXml.fromfile(str(path))
        for case in suite
    ]


# -- bad usage: exit 2, one line ---------------------------------------------------------


def test_bad_profile_exits_2_naming_the_field(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "--target", str(BAD_PROFILE), "--no-browser"])
    assert result.exit_code == 2, result.output
    line = _one_line(result.stderr)
    assert "api.confirm.method" in line and "'PUTT'" in line and "POST" in line
    assert "Traceback" not in result.output


def test_profile_with_brackets_in_its_message_is_printed_verbatim(
    cli: CliRunner, tmp_path: Path
) -> None:
    # the message names [session.login]: rich must not swallow it as markup
    profile = tmp_path / "a-rather-long-file-name-so-that-the-line-exceeds-eighty-columns.toml"
    profile.write_text('name = "x"\nbase_url = "http://127.0.0.1:9"\n[session]\n')
    result = cli.invoke(app, ["run", "--target", str(profile)])
    assert result.exit_code == 2
    line = _one_line(result.stderr)
    assert "[session.login]" in line and "[session.headers]" in line
    assert str(profile) in line


def test_missing_profile_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["run", "--target", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "no such target profile" in _one_line(result.stderr)


def test_scenario_glob_matching_nothing_exits_2(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", "--scenario", "nomatch*", "--no-browser"])
    assert result.exit_code == 2
    assert "'nomatch*'" in _one_line(result.stderr)


def test_report_on_a_missing_directory_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["report", str(tmp_path / "no-such-report")])
    assert result.exit_code == 2
    assert "no-such-report" in _one_line(result.stderr)
    assert "Traceback" not in result.output


def test_scenarios_lists_the_catalog(cli: CliRunner) -> None:
    result = cli.invoke(app, ["scenarios"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for scenario in catalog():
        assert scenario.id in result.stdout
    only = cli.invoke(app, ["scenarios", "--tag", "webhooks"], env={"COLUMNS": "250"})
    assert "webhooks.forged" in only.stdout and "api.missing_key" not in only.stdout


def test_piped_output_is_one_unwrapped_line_per_scenario(cli: CliRunner) -> None:
    result = cli.invoke(app, ["scenarios"], env={"COLUMNS": "80"})  # not a terminal
    lines = result.stdout.splitlines()
    assert len(lines) == len(catalog())
    assert all(line.split()[0] == s.id for line, s in zip(lines, catalog(), strict=True))
    assert "┃" not in result.stdout  # no table


# -- real runs -----------------------------------------------------------------------------


def test_run_against_the_embedded_reference_writes_three_reports(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    scratch = tmp_path / "scratch"  # where the run keeps the target's logs and database
    monkeypatch.setattr(_cli_run, "scratch", lambda prefix: scratch.mkdir() or scratch)
    result = cli.invoke(
        app,
        ["run", "--no-browser", "--scenario", "api.same_key_sequential", "--repeat", "2",
         "--seed", "7", "--report-dir", str(reports)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not scratch.exists()  # removed once the run is over, not left in /tmp
    # not a terminal: a plain progress line per run, then a plain line per result
    assert "[1/2 " in result.stdout and "] api.same_key_sequential" in result.stdout
    assert "passed" in result.stdout and "┃" not in result.stdout
    latest = reports / "latest"
    assert latest.is_symlink()
    run_dir = latest.resolve()
    assert run_dir.parent == reports.resolve()
    for name in ("report.json", "junit.xml", "report.html"):
        assert (run_dir / name).is_file(), name
    data = json.loads((run_dir / "report.json").read_text())
    assert data["seed"] == 7
    assert [r["status"] for r in data["runs"]] == ["passed", "passed"]
    assert _suite_counts(run_dir / "junit.xml") == (2, 0, 0, 0)
    names = [name for _, name, _ in _cases(run_dir / "junit.xml")]
    assert names[0] == "api.same_key_sequential" and names[1].startswith(names[0] + "#")

    # `nodouble report DIR` re-renders the HTML from report.json
    html = run_dir / "report.html"
    html.unlink()
    again = cli.invoke(app, ["report", str(run_dir)])
    assert again.exit_code == 0, again.output
    assert html.is_file() and "api.same_key_sequential" in html.read_text()


@pytest.fixture(scope="module")
def broken_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("cli-shop")
    with ServerProcess("fake_provider.app:create_app") as provider:
        shop = start_shop(provider.url, "no_idempotency", log_dir=tmp)
        try:
            yield write_profile(
                tmp / "shop.toml", base_url=shop.url, provider_url=provider.url, name="broken"
            )
        finally:
            shop.stop()


def test_run_against_a_broken_shop_exits_1_with_the_violation_in_junit(
    cli: CliRunner, broken_profile: Path, tmp_path: Path
) -> None:
    result = cli.invoke(
        app,
        ["run", "--target", str(broken_profile), "--scenario", "api.same_key_sequential",
         "--report-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    junit = tmp_path / "latest" / "junit.xml"
    assert _suite_counts(junit) == (1, 1, 0, 0)
    ((classname, name, results),) = _cases(junit)
    assert (classname, name) == ("api", "api.same_key_sequential")
    (failure,) = results
    assert isinstance(failure, Failure)
    assert failure.message is not None and "at_most_one_charge" in failure.message


def test_run_where_nothing_applies_is_not_a_pass(
    cli: CliRunner, broken_profile: Path, tmp_path: Path
) -> None:
    result = cli.invoke(
        app,
        ["run", "--target", str(broken_profile), "--scenario", "webhooks.*",
         "--report-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    junit = tmp_path / "latest" / "junit.xml"
    count = len([s for s in catalog() if s.id.startswith("webhooks.")])
    assert _suite_counts(junit) == (count, 0, 0, count)
    assert all(isinstance(r[0], Skipped) for _, _, r in _cases(junit))


def test_flaw_is_for_the_embedded_reference_only(cli: CliRunner, tmp_path: Path) -> None:
    bad = cli.invoke(app, ["run", "--flaw", "no_such_flaw", "--no-browser"])
    assert bad.exit_code == 2 and "--flaw 'no_such_flaw' is not one of" in bad.stderr
    profile = tmp_path / "shop.toml"
    profile.write_text('name = "s"\nbase_url = "http://127.0.0.1:9"\n[provider]\n'
                       'url = "http://127.0.0.1:9"\n[session.login]\npath = "/in"\n')  # fmt: skip
    other = cli.invoke(app, ["run", "--target", str(profile), "--flaw", "no_prg"])
    assert other.exit_code == 2 and "embedded reference checkout only" in other.stderr


def test_run_checks_the_profile_first_and_names_each_problem(
    cli: CliRunner, tmp_path: Path
) -> None:
    """The doctor's checks run before the first scenario: a wrong pointer stops the run with
    exit 2, one line naming the field, and no report folder."""
    text = REFERENCE_PROFILE.read_text().replace('paid_pointer = "/status"', 'paid_pointer = "/x"')
    profile = tmp_path / "bad.toml"
    profile.write_text(text)
    reports = tmp_path / "reports"
    result = cli.invoke(app, ["run", "--target", str(profile), "--no-browser",
                              "--scenario", "api.same_key_sequential",
                              "--report-dir", str(reports)])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and "FAIL read: paid_pointer /x does not resolve" in lines[0]
    assert "fix [api.read_order] path or paid_pointer" in lines[0]
    assert not reports.exists() or not any(reports.iterdir())


def test_a_run_started_in_the_same_second_gets_its_own_report_folder(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    first = _cli_run.new_run_dir(root, "20261202T052030Z")
    (first / "report.json").write_text("{}")  # another run's evidence
    second = _cli_run.new_run_dir(root, "20261202T052030Z")
    third = _cli_run.new_run_dir(root, "20261202T052030Z")
    assert [p.name for p in (first, second, third)] == [
        "20261202T052030Z", "20261202T052030Z-2", "20261202T052030Z-3",
    ]  # fmt: skip
    assert (first / "report.json").read_text() == "{}" and not any(second.iterdir())
    (tmp_path / "a-file").write_text("")
    with pytest.raises(_cli_run.SetupError, match=r"--report-dir .*a-file: is a file, not a"):
        _cli_run.new_run_dir(tmp_path / "a-file", "20261202T052030Z")
