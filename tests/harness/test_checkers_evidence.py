"""No verdict without evidence: missing reads, an unread ledger or unknown outcomes never
read as "valid"; severity decides what a violation costs."""

from __future__ import annotations

from harness.checkers import SEVERITIES, CheckContext, run_checkers
from harness.checkers._base import CheckResult
from harness.history import History
from harness.ledger import LedgerView
from harness.runner import _status

MONEY = [name for name, severity in SEVERITIES.items() if severity == "money"]
LEDGER_MONEY = [
    "at_most_one_charge",
    "success_means_one_charge",
    "no_orphan_charge",
    "no_lost_payment",
    "told_the_truth",
    "charge_matches_order",
]


def timed_out_confirm_and_404_read() -> History:
    h = History()
    confirm = h.invoke("alice", "confirm", {"order_id": "o1", "key": "k1", "user": "alice"})
    h.info(confirm, {"outcome": "unknown", "error": "timeout"})
    read = h.invoke("alice", "read_order", {"order_id": "o1", "user": "alice"})
    h.fail(read, {"response": {"status": 404, "headers": {}, "body": None}, "paid": None})
    return h


def test_no_money_checker_says_valid_on_a_timeout_a_404_and_an_empty_ledger() -> None:
    ctx = CheckContext(ledger_read=True, orders=("o1",), reconcile_window_passed=True)
    results = run_checkers(LEDGER_MONEY, timed_out_confirm_and_404_read(), LedgerView(), ctx)
    assert [r.name for r in results if r.valid is True] == []
    assert all(r.valid == "unknown" for r in results), [(r.name, r.message) for r in results]


def test_an_unread_ledger_leaves_every_money_checker_unknown() -> None:
    h = History()
    confirm = h.invoke("alice", "confirm", {"order_id": "o1", "key": "k1", "user": "alice"})
    h.ok(confirm, {"response": {"status": 200, "headers": {}, "body": {}}})
    read = h.invoke("alice", "read_order", {"order_id": "o1"})
    h.ok(read, {"paid": True})
    ledger = LedgerView.from_rows(
        [{"id": "c1", "kind": "charge", "amount": 100, "metadata": {"order_id": "o1"}}]
    )
    ctx = CheckContext(ledger_read=False, orders=("o1",), reconcile_window_passed=True)
    results = run_checkers(LEDGER_MONEY, h, ledger, ctx)
    assert {r.valid for r in results} == {"unknown"}
    assert all("not read" in r.message for r in results)


def test_a_charged_order_read_back_as_unpaid_is_an_orphan_in_any_scenario() -> None:
    h = History()
    read = h.invoke("alice", "read_order", {"order_id": "o1"})
    h.ok(read, {"paid": False})
    ledger = LedgerView.from_rows(
        [{"id": "c1", "kind": "charge", "amount": 100, "metadata": {"order_id": "o1"}}]
    )
    ctx = CheckContext(ledger_read=True, orders=("o1",), reconcile_window_passed=True)
    [result] = run_checkers(["no_orphan_charge"], h, ledger, ctx)
    assert result.valid is False and result.counts["orphans"] == 1


def test_more_charges_than_purchases_is_a_double_charge_even_under_unknown_keys() -> None:
    rows = [
        {"id": "c1", "kind": "charge", "amount": 100, "metadata": {"order_id": "o1"}},
        {"id": "c2", "kind": "charge", "amount": 100, "metadata": {"order_id": "o2"}},
        {"id": "c3", "kind": "charge", "amount": 100, "metadata": {"order_id": "made-up"}},
    ]
    ctx = CheckContext(ledger_read=True, orders=("o1", "o2"), strays=("c3",))
    h = History()
    for order in ("o1", "o2"):
        h.ok(h.invoke("alice", "confirm", {"order_id": order}), {"outcome": "success"})
    [result] = run_checkers(["at_most_one_charge"], h, LedgerView.from_rows(rows), ctx)
    assert result.valid is False
    assert result.first is not None and result.first["stray"] == ["c3"]


def test_bob_answered_about_alices_order_is_a_leak_and_a_refusal_is_fine() -> None:
    def story(bob_status: int) -> History:
        h = History()
        for user, order in (("alice", "o1"), ("bob", "o1")):
            inv = h.invoke(user, "confirm", {"order_id": order, "key": "shared", "user": user})
            code = 200 if user == "alice" else bob_status
            body = {"order_id": "o1", "status": "paid"}
            kind = "ok" if code < 400 else "fail"
            h.complete(inv, kind, {"response": {"status": code, "headers": {}, "body": body}})
        return h

    ctx = CheckContext(ledger_read=True, owners={"o1": "alice"})
    [leak] = run_checkers(["keys_user_scoped"], story(200), LedgerView(), ctx)
    assert leak.valid is False and leak.severity == "money"
    [refused] = run_checkers(["keys_user_scoped"], story(404), LedgerView(), ctx)
    assert refused.valid is True and refused.counts["refused"] == 1


def test_money_invariants_gate_and_hygiene_ones_only_when_asked() -> None:
    money = CheckResult("at_most_one_charge", True, severity="money")
    hygiene = CheckResult("problem_on_5xx", False, severity="hygiene")
    assert _status([money, hygiene], None, [], ("money",))[0] == "passed"
    assert "problem_on_5xx" in (_status([money, hygiene], None, [], ("money",))[1] or "")
    assert _status([money, hygiene], None, [], ("money", "hygiene"))[:3:2] == (
        "failed",
        "hygiene",
    )
    unknown_hygiene = CheckResult("post_redirect_get", "unknown", severity="hygiene")
    assert _status([money, unknown_hygiene], None, [], ("money",))[0] == "passed"
    lost = CheckResult("no_lost_payment", False, severity="money")
    assert _status([lost, hygiene], None, [], ("money",))[2] == "money"


def test_a_run_that_broke_still_fails_on_money_and_says_it_broke() -> None:
    orphan = CheckResult("no_orphan_charge", False, severity="money")
    held = CheckResult("at_most_one_charge", True, severity="money")
    broke = "StepError: the page the customer landed on is not the success page"
    status, reason, failure = _status([held, orphan], broke, [], ("money",))
    assert (status, failure) == ("failed", "money")
    assert reason == f"violated: no_orphan_charge (and the run broke: {broke})"
    undecided = CheckResult("no_orphan_charge", "unknown", severity="money")
    assert _status([held, undecided], broke, [], ("money",))[:2] == ("error", broke)


def test_a_fault_that_never_fired_makes_the_scenario_an_error_never_a_pass() -> None:
    money = CheckResult("at_most_one_charge", True, severity="money")
    status, reason, _ = _status(
        [money], None, ["provider fault drop_after never fired"], ("money",)
    )
    assert status == "error" and reason is not None and "never fired" in reason


def test_every_checker_declares_its_severity() -> None:
    assert set(MONEY) >= {"at_most_one_charge", "no_lost_payment", "keys_user_scoped"}
    assert SEVERITIES["problem_on_5xx"] == "hygiene"
    assert SEVERITIES["missing_key_refused"] == "hygiene"


def test_an_error_or_an_undecided_money_check_outranks_a_gated_hygiene_failure() -> None:
    unknown_money = CheckResult("at_most_one_charge", "unknown", severity="money")
    hygiene = CheckResult("problem_on_5xx", False, severity="hygiene")
    gate = ("money", "hygiene")
    assert _status([unknown_money, hygiene], None, [], gate)[0] == "error"
    assert _status([hygiene], None, ["fault never fired"], gate)[0] == "error"
    money = CheckResult("at_most_one_charge", True, severity="money")
    assert _status([money, hygiene], None, [], gate)[::2] == ("failed", "hygiene")
