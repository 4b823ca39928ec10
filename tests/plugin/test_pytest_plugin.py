"""The pytest plugin, driven through ``pytester`` against real processes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "targets" / "reference.toml"
INNER = (
    "-p", "no:cacheprovider", "--strict-markers", "-rs",
    "-W", "error", "-W", "ignore::pytest.PytestAssertRewriteWarning",
)  # fmt: skip


def profile(pytester: pytest.Pytester, name: str, text: str) -> Path:
    path = pytester.path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def without_webhooks() -> str:
    text = REFERENCE.read_text(encoding="utf-8")
    cut = text.index("[webhooks]")
    return text[:cut].replace('name = "reference"', 'name = "no-webhooks"')


def test_options_are_grouped(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    assert "no-double-charge scenarios:" in out
    section = out.split("no-double-charge scenarios:", 1)[1]
    for option in ("--nodouble-target=FILE", "--nodouble-scenario=GLOB", "--nodouble-report-dir"):
        assert option in section


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.nodouble
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=1)
    markers = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.nodouble: a no-double-charge scenario test" in markers


def test_fixtures_in_a_generated_test_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_stack(fake_provider, reference_app):
            assert reference_app.provider_url == fake_provider.url
            with httpx.Client(base_url=reference_app.url) as http:
                http.post("/api/session", json={"user": "plugin-test"}).raise_for_status()
                order = http.post(
                    "/api/orders", json={"items": [{"sku": "mug-white", "quantity": 2}]}
                ).json()
                paid = http.post(
                    f"/api/orders/{order['order_id']}/confirm",
                    headers={"Idempotency-Key": "plugin-k1"},
                )
            assert paid.status_code == 200, paid.text
            charges = fake_provider.client.charges(order["order_id"])
            assert [c["amount"] for c in charges] == [2400]

        def test_target_and_run(nodouble_target, nodouble_run):
            assert nodouble_target.profile.name == "reference"
            assert nodouble_target.base_url.startswith("http://127.0.0.1:")
            run = nodouble_run("api.same_key_sequential")
            assert run.status == "passed", run.reason
            assert {c.name for c in run.checks} >= {"at_most_one_charge", "replays_identical"}
            assert len([r for r in run.ledger if r["kind"] == "charge"]) == 1

        def test_unknown_scenario(nodouble_run):
            nodouble_run("api.no_such_scenario")
        """
    )
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*nodouble_run: no scenario 'api.no_such_scenario'*"])


def test_catalog_scenario_passes(pytester: pytest.Pytester) -> None:
    reports = pytester.path / "kept"
    result = pytester.runpytest(
        *INNER, "-v",
        "--nodouble-target", str(REFERENCE),
        "--nodouble-scenario", "api.same_key_sequential",
        "--nodouble-report-dir", str(reports),
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*collected 1 item*", "*nodouble::api.same_key_sequential PASSED*"]
    )
    assert not reports.exists(), "a passing scenario keeps no report"


def test_catalog_skips_what_the_target_cannot_do(pytester: pytest.Pytester) -> None:
    path = profile(pytester, "no-webhooks", without_webhooks())
    result = pytester.runpytest(
        *INNER, "--nodouble-target", str(path), "--nodouble-scenario", "webhooks.*"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 2
    assert "passed" not in outcomes and "failed" not in outcomes
    result.stdout.fnmatch_lines(["*not applicable: the target does not declare: webhooks*"])


def test_catalog_reports_a_real_violation(pytester: pytest.Pytester) -> None:
    # The profile reads "open" as paid: the checkout, as the harness is told to read it,
    # shows an order that was refused (no key, no charge) as paid: a lost payment.
    text = REFERENCE.read_text(encoding="utf-8").replace(
        'paid_value = "paid"', 'paid_value = "open"'
    )
    path = profile(pytester, "lying", text)
    reports = pytester.path / "kept"
    result = pytester.runpytest(
        *INNER,
        "--nodouble-target", str(path),
        "--nodouble-scenario", "api.missing_key",
        "--nodouble-report-dir", str(reports),
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*nodouble scenario api.missing_key failed: violated: no_lost_payment*",
            "*VIOLATED no_lost_payment: 1 order(s) shown as paid with no charge in the ledger*",
            "*first:*",
            f"*report: {reports / 'api.missing_key' / 'report.html'}*",
        ]
    )
    kept = reports / "api.missing_key"
    assert (kept / "report.json").is_file()
    assert '"status": "failed"' in (kept / "report.json").read_text(encoding="utf-8")
    assert "Traceback" not in result.stdout.str()


def test_bad_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    path = profile(
        pytester, "bad", REFERENCE.read_text(encoding="utf-8").replace("[session]", "[sesion]")
    )
    result = pytester.runpytest(*INNER, "--nodouble-target", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert re.search(
        r"--nodouble-target: .*bad\.toml: sesion: unknown field; allowed: .*session", err
    )
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--nodouble-target", str(REFERENCE), "--nodouble-scenario", "nope.*"),
            "matches no scenario",
        ),
        (("--nodouble-scenario", "api.*"), "give --nodouble-target FILE too"),
    ],
)
def test_bad_selection_is_a_usage_error(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest(*INNER, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
