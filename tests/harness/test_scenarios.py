"""The scenario catalog: well formed, linked to the threat model, and complete.

"Complete" is the list in issue 5 ("The catalog must include at least"): each entry is
pinned here to the scenario ids that cover it, with a look at the steps that make it
that scenario (a retry through the proxy really goes through the proxy, and so on).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.checkers import CHECKERS
from harness.reports import threat_link
from scenarios import DEFAULT_INVARIANTS, Scenario, catalog, get, select
from scenarios import steps as s
from scenarios.steps import CAPABILITIES

ROOT = Path(__file__).resolve().parents[2]
THREAT_MODEL = ROOT / "docs" / "threat-model.md"
ALL = catalog()


def _threat_headings() -> set[str]:
    text = THREAT_MODEL.read_text(encoding="utf-8")
    return set(re.findall(r"^###\s+(\S+)\s*$", text, re.MULTILINE))


def _steps(scenario: Scenario, kind: type) -> list[object]:
    return [step for step in scenario.steps if isinstance(step, kind)]


def test_ids_are_unique_dotted_and_grouped_by_module() -> None:
    ids = [sc.id for sc in ALL]
    assert len(ids) == len(set(ids))
    for sc in ALL:
        assert re.fullmatch(r"[a-z]+\.[a-z0-9_]+", sc.id), sc.id
        groups = {"api", "provider", "webhooks", "process", "browser", "threeds", "capture",
                  "hosted"}  # fmt: skip
        assert sc.group in groups
        assert sc.title and sc.steps


def test_every_invariant_has_a_checker_and_money_is_always_judged() -> None:
    for sc in ALL:
        unknown = set(sc.invariants) - set(CHECKERS)
        assert not unknown, f"{sc.id} names invariants with no checker: {unknown}"
        assert len(sc.invariants) == len(set(sc.invariants)), sc.id
        assert "at_most_one_charge" in sc.invariants, sc.id
        assert "told_the_truth" in sc.invariants, sc.id


def test_every_threat_has_a_heading_in_the_threat_model() -> None:
    headings = _threat_headings()
    for sc in ALL:
        assert sc.threat in headings, f"{sc.id}: no '### {sc.threat}' in docs/threat-model.md"
        anchor = threat_link(sc.threat).split("#", 1)[1]
        assert anchor == sc.threat, f"{sc.id}: report link #{anchor} misses the heading"


def test_every_capability_is_one_the_profiles_know() -> None:
    for sc in ALL:
        assert sc.needs <= set(CAPABILITIES), sc.id
        assert set(sc.extra_needs) <= set(CAPABILITIES), sc.id
        for step in sc.steps:
            assert set(step.needs) <= set(CAPABILITIES), f"{sc.id}: {step!r}"


def test_every_step_type_the_catalog_uses_is_a_known_step() -> None:
    known = {t for t in s.Step.__args__}  # type: ignore[attr-defined]
    for sc in ALL:
        for step in sc.steps:
            assert type(step) in known, f"{sc.id}: {type(step).__name__}"
            assert step.__dataclass_params__.frozen, f"{sc.id}: steps are frozen data"  # type: ignore[union-attr]


def test_select_filters_by_glob_and_tag() -> None:
    assert [sc.id for sc in select("api.missing_key")] == ["api.missing_key"]
    assert select("nomatch*") == ()
    assert all("race" in sc.tags for sc in select(None, ("race",)))
    assert {sc.group for sc in select("browser.*")} == {"browser"}
    with pytest.raises(KeyError):
        get("api.no_such_scenario")


# -- the list -----------------------------------------------------------------------

BROWSER_REQUIRED = {
    "brief Checkout, Confirm, Success, Back, Confirm again": "brief_back_confirm_again",
    "double-click (JS on)": "double_click",
    "rapid clicks (JS on)": "rapid_clicks",
    "double-click (JS off)": "double_click_nojs",
    "rapid clicks (JS off)": "rapid_clicks_nojs",
    "reload on success": "reload_success",
    "reload while the confirm is in flight": "reload_in_flight",
    "back/forward": "back_forward",
    "bfcache restore": "bfcache_restore",
    "two tabs": "two_tabs",
}
REQUIRED = {
    "API same key sequential": "api.same_key_sequential",
    "API N parallel same key": "api.parallel_same_key",
    "API N parallel different keys for one order": "api.parallel_different_keys",
    "API client timeout then retry through the proxy": "api.timeout_then_retry",
    "API key reused with another body": "api.key_reused_other_body",
    "API missing key": "api.missing_key",
    "API another user's key": "api.other_users_key",
    "provider timeout after charge": "provider.timeout_after_charge",
    "provider 500 before charge": "provider.error_before_charge",
    "lost provider response": "provider.lost_response",
    "duplicate webhook": "webhooks.duplicate",
    "out-of-order webhooks": "webhooks.out_of_order",
    "forged webhook": "webhooks.forged",
    "checkout killed after the charge, restarted, reconciled": "process.kill_after_charge",
}


@pytest.mark.parametrize("what", sorted(REQUIRED))
def test_required_scenario_exists(what: str) -> None:
    sc = get(REQUIRED[what])
    assert sc.threat in _threat_headings()


@pytest.mark.parametrize("what", sorted(BROWSER_REQUIRED))
def test_required_browser_scenario_exists_server_rendered_and_spa_where_it_applies(
    what: str,
) -> None:
    name = BROWSER_REQUIRED[what]
    ssr = get(f"browser.{name}_ssr")
    assert "browser" in ssr.needs and "browser_spa" not in ssr.needs
    checkouts = _steps(ssr, s.BrowserCheckout)
    assert checkouts, f"{ssr.id} never reaches a confirm page"
    if name.endswith("_nojs"):
        assert all(not c.javascript for c in checkouts)  # type: ignore[attr-defined]
        return  # a single-page checkout needs JavaScript: SSR only
    spa = get(f"browser.{name}_spa")
    assert "browser_spa" in spa.needs
    assert spa.threat == ssr.threat


def test_required_scenarios_do_what_their_name_says() -> None:
    same = get("api.parallel_same_key")
    (burst,) = _steps(same, s.Burst)
    assert burst.same_key and burst.n >= 10 and same.rounds >= 3  # type: ignore[attr-defined]
    (other,) = _steps(get("api.parallel_different_keys"), s.Burst)
    assert not other.same_key and other.n >= 10  # type: ignore[attr-defined]

    retry = get("api.timeout_then_retry")
    (fault,) = _steps(retry, s.NetworkFault)
    assert fault.rule == "drop_response"  # type: ignore[attr-defined]
    confirms = _steps(retry, s.Confirm)
    assert len(confirms) == 2 and all(c.through_proxy for c in confirms)  # type: ignore[attr-defined]
    assert len({c.key for c in confirms}) == 1  # type: ignore[attr-defined]

    assert "changed_body_refused" in get("api.key_reused_other_body").invariants
    changed = [c.change for c in _steps(get("api.key_reused_other_body"), s.Confirm)]  # type: ignore[attr-defined]
    assert changed.count("payment_method") == 1 and "amount" not in changed
    assert "missing_key_refused" in get("api.missing_key").invariants
    assert any(c.key is None for c in _steps(get("api.missing_key"), s.Confirm))  # type: ignore[attr-defined]
    users = get("api.other_users_key")
    assert "keys_user_scoped" in users.invariants
    assert {c.user for c in _steps(users, s.Confirm)} == {"alice", "bob"}  # type: ignore[attr-defined]

    modes = {
        sc_id: {f.mode for f in _steps(get(sc_id), s.ProviderFault)}  # type: ignore[attr-defined]
        for sc_id in ("provider.timeout_after_charge", "provider.error_before_charge",
                      "provider.lost_response")
    }  # fmt: skip
    assert modes == {
        "provider.timeout_after_charge": {"hang_after"},
        "provider.error_before_charge": {"error_before"},
        "provider.lost_response": {"drop_after"},
    }
    assert "webhooks_accepted" in get("webhooks.duplicate").invariants
    (listen,) = _steps(get("webhooks.duplicate"), s.ListenWebhooks)
    assert listen.duplicate >= 2  # type: ignore[attr-defined]
    assert _steps(get("webhooks.out_of_order"), s.ReplayWebhooks)
    assert "forged_webhooks_rejected" in get("webhooks.forged").invariants
    hows = {f.how for f in _steps(get("webhooks.forged"), s.ForgeWebhook)}  # type: ignore[attr-defined]
    assert hows == {"bad_signature", "stale", "unsigned"}

    crash = get("process.kill_after_charge")
    kinds = [type(step) for step in crash.steps]
    assert kinds.index(s.KillTarget) < kinds.index(s.RestartTarget) < kinds.index(s.Reconcile)
    assert "no_orphan_charge" in crash.invariants


def test_default_invariants_cover_the_money_rules() -> None:
    money = {"at_most_one_charge", "success_means_one_charge", "told_the_truth"}
    protocol = {"no_lost_payment", "replays_identical", "problem_on_5xx"}
    assert money | protocol <= set(DEFAULT_INVARIANTS)


def test_threeds_scenarios_pay_with_a_challenge_card_and_need_what_they_use() -> None:
    chosen = select("threeds.*")
    assert {sc.id for sc in chosen} == {
        "threeds.return_then_back_ssr", "threeds.return_then_back_spa",
        "threeds.two_tabs_ssr", "threeds.two_tabs_spa", "threeds.abandoned_new_card_ssr",
        "threeds.abandoned_new_card_spa", "threeds.late_then_new_card_ssr",
        "threeds.late_then_new_card_spa",
    }  # fmt: skip
    for sc in chosen:
        assert {"browser", "choose_card", "threeds"} <= sc.needs, sc.id
        assert ("browser_spa" in sc.needs) == sc.id.endswith("_spa")
        cards = [c.payment_method for c in _steps(sc, s.ChooseCard)]  # type: ignore[attr-defined]
        assert cards[0] == "pm_card_threeDSecure2Required", sc.id
        assert _steps(sc, s.Authenticate3DS), sc.id
        assert "at_most_one_charge" in sc.invariants
        others = frozenset({"browser", "browser_spa", "choose_card", "read_order"})
        lagged = "late_then_new_card" in sc.id or "return_then_back" in sc.id  # search lags
        assert sc.missing(others) == ["provider_faults", "threeds"] if lagged else ["threeds"]
    late = _steps(get("threeds.abandoned_new_card_ssr"), s.Authenticate3DS)
    assert [a.late for a in late] == [True]  # type: ignore[attr-defined]
    assert _steps(get("threeds.abandoned_new_card_ssr"), s.ChooseCard)[-1].payment_method != (  # type: ignore[attr-defined]
        "pm_card_threeDSecure2Required"
    )
    for spa in ("ssr", "spa"):  # the challenge is completed late, then another tab pays
        steps = get(f"threeds.late_then_new_card_{spa}").steps
        kinds = [type(step).__name__ for step in steps]
        late = kinds.index("Authenticate3DS")
        assert steps[late].late  # type: ignore[attr-defined]
        assert kinds[late + 1] == "ClickPay" and steps[late + 1].tab == "t2"  # type: ignore[attr-defined]
    for name in ("late_then_new_card", "return_then_back"):
        for spa in ("ssr", "spa"):  # search lags through the story, then the reconcile window
            steps = get(f"threeds.{name}_{spa}").steps
            kinds = [type(step).__name__ for step in steps]
            # armed once the order exists (so it can hide that order's intents only), and
            # before anything is paid
            assert kinds[:2] == ["BrowserCheckout", "ProviderFault"]
            assert steps[1].mode == "search_lag"  # type: ignore[attr-defined]
            assert kinds[-3:] == ["ClearProviderFaults", "Reconcile", "ReadOrder"]
