"""``nodouble doctor`` against the embedded reference checkout, with right and wrong profiles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.doctor import NAMES, Check, diagnose
from harness.profile import TargetProfile, load_profile
from harness.target import REFERENCE_PROFILE, Target, open_target


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    target = open_target(load_profile(REFERENCE_PROFILE), tmp_path_factory.mktemp("doctor"))
    yield target
    target.stop()


def variant(target: Target, **changes: dict[str, Any]) -> Target:
    """The same live checkout under a profile with some sections' fields changed."""
    profile: TargetProfile = target.profile
    update: dict[str, Any] = {}
    for section, fields in changes.items():
        if section == "read_order":
            assert profile.api is not None and profile.api.read_order is not None
            read = profile.api.read_order.model_copy(update=fields)
            update["api"] = profile.api.model_copy(update={"read_order": read})
        else:
            update[section] = getattr(profile, section).model_copy(update=fields)
    return Target(profile.model_copy(update=update), target.base_url, target.provider_url)


def outcomes(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.outcome for c in checks}


def test_the_reference_profile_passes_every_check(live: Target) -> None:
    checks = diagnose(live)
    assert [c.name for c in checks] == list(NAMES)
    assert all(c.outcome == "ok" for c in checks), [c.line() for c in checks]


def test_a_wrong_paid_pointer_is_named_and_later_checks_are_skipped(live: Target) -> None:
    checks = diagnose(variant(live, read_order={"paid_pointer": "/state"}))
    found = outcomes(checks)
    assert found["order"] == "ok" and found["read"] == "fail"
    assert {found[n] for n in NAMES[NAMES.index("read") + 1 :]} == {"skip"}
    [bad] = [c for c in checks if c.outcome == "fail"]
    assert "paid_pointer /state does not resolve" in bad.detail
    assert "status" in bad.detail  # the fields the answer does have
    assert bad.fix == "fix [api.read_order] path or paid_pointer"


def test_a_wrong_paid_value_fails_after_the_payment(live: Target) -> None:
    checks = diagnose(variant(live, read_order={"paid_value": "settled"}))
    assert outcomes(checks)["paid"] == "fail"
    assert "never 'settled'" in next(c.detail for c in checks if c.name == "paid")


def test_a_wrong_key_and_a_wrong_business_key_are_both_named(live: Target) -> None:
    wrong = {"api_key": "sk_test_someone_else", "business_key": "purchase"}
    checks = diagnose(variant(live, provider=wrong))
    found = outcomes(checks)
    assert (found["paid"], found["account"], found["business key"]) == ("ok", "fail", "fail")
    lines = "\n".join(c.line() for c in checks)
    assert "pays with sk_test_nodouble, the profile says sk_test_someone_else" in lines
    assert "no charge has metadata purchase" in lines and "order_id" in lines


def test_an_unreachable_provider_stops_at_the_first_check(live: Target) -> None:
    gone = Target(live.profile, live.base_url, "http://127.0.0.1:9")
    found = outcomes(diagnose(gone))
    assert found["provider"] == "fail"
    assert set(found.values()) == {"fail", "skip"}


def test_cli_exit_2_names_the_field(tmp_path: Path) -> None:
    text = REFERENCE_PROFILE.read_text().replace('paid_pointer = "/status"', 'paid_pointer = "/x"')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["doctor", "--target", str(path)])
    assert result.exit_code == 2, result.output
    assert "FAIL read: paid_pointer /x does not resolve" in result.output
    assert "4/10 checks passed" in result.output


def test_a_profile_of_pages_only_skips_the_purchase_checks(live: Target) -> None:
    pages_only = Target(live.profile.model_copy(update={"api": None}), live.base_url,
                        live.provider_url)  # fmt: skip
    found = outcomes(diagnose(pages_only))
    assert found["provider"] == found["checkout"] == found["webhooks"] == "ok"
    assert {found[n] for n in NAMES[NAMES.index("sign-in") : NAMES.index("webhooks")]} == {"skip"}


def test_a_user_without_static_headers_is_named(live: Target) -> None:
    session = live.profile.session.model_copy(
        update={"login": None, "users": ["ann", "ben"], "headers": {"ann": {"X-User": "ann"}}}
    )
    lonely = Target(live.profile.model_copy(update={"session": session}), live.base_url,
                    live.provider_url)  # fmt: skip
    [bad] = [c for c in diagnose(lonely) if c.outcome == "fail"]
    assert (bad.name, bad.fix) == ("sign-in", "add [session.headers.ben]")
