"""Manual capture in the harness: the profile section, the steps, the "authorised" answer
and how the money checkers judge authorised against captured (tiny hand-written histories,
as Jepsen's checker_test.clj)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from harness import _capture
from harness.checkers import no_orphan_charge, success_means_one_charge, told_the_truth
from harness.checkers._base import CheckContext
from harness.history import History, Op
from harness.ledger import LedgerView
from harness.profile import ProfileError, TargetProfile, parse_profile
from scenarios import get
from scenarios import steps as s
from scenarios._model import Scenario

if TYPE_CHECKING:
    from harness.interpreter import Interpreter

REFERENCE = Path(__file__).resolve().parents[2] / "targets" / "reference.toml"
CTX = CheckContext(ledger_read=True, reconcile_window_passed=True, orders=("o1",))


def reference(**capture: Any) -> dict[str, Any]:
    data = copy.deepcopy(tomllib.loads(REFERENCE.read_text()))
    data["api"]["capture"].update(capture)
    return data


# -- profile and scenarios ------------------------------------------------------------------


def test_capture_section_gives_the_capability_and_its_scenarios_apply() -> None:
    profile = parse_profile(reference())
    assert profile.api is not None and profile.api.capture is not None
    assert profile.api.capture.confirm_body == {"capture_method": "manual"}
    assert "capture" in profile.capabilities()
    for sid in ("capture.lost_answer", "capture.provider_error"):
        assert "capture" in get(sid).needs
        assert get(sid).missing(frozenset(profile.capabilities())) == []


def test_without_the_section_capture_scenarios_are_not_applicable() -> None:
    data = reference()
    del data["api"]["capture"]
    profile = parse_profile(data)
    assert "capture" not in profile.capabilities()
    assert get("capture.lost_answer").missing(frozenset(profile.capabilities())) == ["capture"]
    # search lag needs no capture: any API checkout can be judged by it
    assert get("provider.search_lag_new_key").missing(frozenset(profile.capabilities())) == []


def test_steps_aimed_at_capture_need_the_capability() -> None:
    for step in (s.Confirm(manual_capture=True), s.NetworkFault("drop_response", on="capture")):
        assert "capture" in Scenario("x.y", "t", "threat", (s.CreateOrder(), step)).needs
    steps = (s.CreateOrder(), s.Confirm(), s.NetworkFault("drop_response"))
    plain = Scenario("x.y", "t", "threat", steps)
    assert "capture" not in plain.needs


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("path", "/capture", "api.capture.path: '/capture' must contain {order_id}"),
        ("authorized_pointer", "status", "api.capture.authorized_pointer: 'status' is not a JSON"),
        ("confirm_body", {"x": "{card}"}, "api.capture.confirm_body: uses placeholder {card}"),
        ("colour", "red", "api.capture.colour: unknown field; allowed: authorized_pointer"),
    ],
)
def test_bad_capture_fields_are_named(field: str, value: Any, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(reference(**{field: value}), "targets/x.toml")
    assert str(caught.value).startswith(f"targets/x.toml: {message}"), caught.value


def test_search_lag_scenario_arms_the_lag_before_the_lost_charge_and_retries_with_a_new_key() -> (
    None
):
    steps = get("provider.search_lag_new_key").steps
    faults = [step for step in steps if isinstance(step, s.ProviderFault)]
    assert [f.mode for f in faults] == ["search_lag", "drop_after"]
    assert faults[0].lag_ms >= 10_000
    confirms = [step for step in steps if isinstance(step, s.Confirm)]
    assert [c.key for c in confirms] == ["k1", "k2", "k2"]  # a new key for the second click
    clear = next(i for i, step in enumerate(steps) if isinstance(step, s.ClearProviderFaults))
    assert steps.index(confirms[1]) < clear < steps.index(confirms[2])


# -- the authorised answer ----------------------------------------------------------------


def interp(profile: TargetProfile) -> Interpreter:
    return cast("Interpreter", SimpleNamespace(profile=profile))


@pytest.mark.parametrize(
    ("status", "body", "extra"),
    [
        (200, {"status": "authorized"}, {"outcome": "authorized", "authorized": True}),
        (200, {"status": "paid"}, {}),
        (200, {"state": "authorized"}, {}),  # the pointer resolves to nothing
        (402, {"status": "authorized"}, {}),  # only a 2xx answer can say "held"
    ],
)
def test_authorized_annotate(status: int, body: dict[str, Any], extra: dict[str, Any]) -> None:
    annotate = _capture.authorized_annotate(interp(parse_profile(reference())))
    assert annotate({"status": status, "headers": {}, "body": body}) == extra


def test_a_step_needing_the_section_says_so() -> None:
    data = reference()
    del data["api"]["capture"]
    with pytest.raises(RuntimeError, match=r"\[api.capture\]"):
        _capture.section(interp(parse_profile(data)))


# -- checkers: authorised is not paid, the capture's answer is what counts ----------------


def charge(order: str) -> dict[str, Any]:
    return {
        "id": "le_1", "kind": "charge", "intent_id": "pi_1", "charge_id": "ch_1",
        "amount": 1500, "currency": "usd", "metadata": {"order_id": order},
        "idempotency_key": "nodouble-capture-pay_1", "account": "sk_test_nodouble", "created": 0,
    }  # fmt: skip


def op(h: History, f: str, status: int, outcome: str, key: str, kind: str = "ok") -> None:
    inv = h.invoke("alice", f, {"order_id": "o1", "key": key, "user": "alice"})
    response = {"status": status, "headers": {}, "body": {"amount": 1500}}
    h.complete(inv, kind, {"response": response, "outcome": outcome})  # type: ignore[arg-type]


def read(h: History, paid: bool) -> None:
    h.ok(h.invoke("alice", "read_order", {"order_id": "o1"}), {"paid": paid})


def test_authorised_and_never_captured_is_no_success_and_no_orphan() -> None:
    h = History()
    op(h, "confirm", 200, "authorized", "k1")
    read(h, False)
    empty = LedgerView.from_rows([])
    assert success_means_one_charge.check(h, empty, CTX).counts["successes"] == 0
    assert told_the_truth.check(h, empty, CTX).valid is True
    assert no_orphan_charge.check(h, empty, CTX).valid is True


def test_capture_told_failed_while_charged_is_a_lie_even_after_an_authorised_answer() -> None:
    h = History()
    op(h, "confirm", 200, "authorized", "k1")
    op(h, "capture", 402, "failed", "c1", kind="fail")
    read(h, False)
    charged = LedgerView.from_rows([charge("o1")])
    truth = told_the_truth.check(h, charged, CTX)
    assert truth.valid is False
    assert truth.first is not None and truth.first["f"] == "capture"
    assert no_orphan_charge.check(h, charged, CTX).valid is False


def test_capture_answered_unknown_then_paid_is_the_truth() -> None:
    h = History()
    op(h, "confirm", 200, "authorized", "k1")
    op(h, "capture", 202, "pending", "c1", kind="info")
    op(h, "capture", 200, "success", "c1")
    read(h, True)
    charged = LedgerView.from_rows([charge("o1")])
    assert told_the_truth.check(h, charged, CTX).valid is True
    assert success_means_one_charge.check(h, charged, CTX).valid is True
    assert no_orphan_charge.check(h, charged, CTX).valid is True


def _confirm_answer(status: int | None, body: Any, **value: Any) -> Op:
    response = None if status is None else {"status": status, "headers": {}, "body": body}
    return Op(2, "ok" if status else "info", "api", "confirm", {"response": response, **value}, 0)


def test_a_manual_capture_confirm_answered_authorised_passes() -> None:
    answer = _confirm_answer(200, {"status": "authorized"}, outcome="authorized")
    _capture.require_authorized(interp(parse_profile(reference())), answer)


@pytest.mark.parametrize(
    ("answer", "got"),
    [
        # a target that ignores confirm_body and charges at once: the capture tests nothing
        (_confirm_answer(200, {"status": "paid"}, outcome="success"), "HTTP 200, /status = 'paid'"),
        (_confirm_answer(402, {"title": "declined"}, outcome="failed"), "HTTP 402, /status = None"),
        (_confirm_answer(None, None, outcome="unknown"), "no answer"),
    ],
)
def test_a_manual_capture_confirm_not_answered_authorised_is_a_step_error(
    answer: Op, got: str
) -> None:
    from harness.interpreter import StepError

    with pytest.raises(StepError) as caught:
        _capture.require_authorized(interp(parse_profile(reference())), answer)
    message = str(caught.value)
    assert f"({got};" in message
    assert "[api.capture] confirm_body" in message
    assert "authorized_pointer" in message
