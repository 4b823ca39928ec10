"""The pytest plugin with a profile whose ledger is Stripe's test mode."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[2] / "targets" / "reference.toml"
INNER = (
    "-p", "no:cacheprovider", "--strict-markers", "-rs",
    "-W", "error", "-W", "ignore::pytest.PytestAssertRewriteWarning",
)  # fmt: skip
ENV = "NODOUBLE_PLUGIN_STRIPE_KEY"


def stripe_profile(pytester: pytest.Pytester) -> Path:
    text = REFERENCE.read_text(encoding="utf-8").replace(
        'api_key = "sk_test_nodouble"',
        f'api_key = "sk_test_nodouble"\nledger = "stripe"\napi_key_env = "{ENV}"',
    )
    path = pytester.path / "staging.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_fake_only_scenarios_are_skipped_as_not_applicable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "sk_test_nodouble")
    path = stripe_profile(pytester)
    result = pytester.runpytest(
        *INNER, "--nodouble-target", str(path), "--nodouble-scenario", "provider.*"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 4 and set(outcomes) == {"skipped"}, outcomes
    result.stdout.fnmatch_lines(["*not applicable: the ledger is Stripe's test mode*/_fake/*"])


def test_a_live_key_fails_the_scenario_naming_the_field(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "sk_live_topsecret")
    path = stripe_profile(pytester)
    result = pytester.runpytest(
        *INNER, "--nodouble-target", str(path), "--nodouble-scenario", "api.missing_key"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*provider.api_key_env: *holds a live key*"])
    assert "topsecret" not in result.stdout.str() and "Traceback" not in result.stdout.str()
