"""Money checkers on tiny hand-written histories (as Jepsen's checker_test.clj)."""

from __future__ import annotations

from typing import Any

from harness.checkers import (
    at_most_one_charge,
    no_lost_payment,
    no_orphan_charge,
    success_means_one_charge,
    told_the_truth,
)
from harness.checkers._base import CheckContext
from harness.history import History
from harness.ledger import LedgerView

CTX = CheckContext(ledger_read=True)


def charge(id_: str, order: str | None, amount: int = 1500, kind: str = "charge") -> dict[str, Any]:
    return {
        "id": id_,
        "kind": kind,
        "intent_id": f"pi_{id_}",
        "charge_id": f"ch_{id_}",
        "amount": amount,
        "currency": "usd",
        "metadata": {} if order is None else {"order_id": order},
        "idempotency_key": None,
        "account": "sk_test_nodouble",
        "created": 0,
    }


def ledger(*rows: dict[str, Any]) -> LedgerView:
    return LedgerView.from_rows(list(rows))


def confirm(
    h: History,
    process: str,
    order: str,
    status: int | None,
    *,
    key: str = "k1",
    user: str = "alice",
    outcome: str | None = None,
    kind: str = "ok",
    amount: int = 1500,
) -> int:
    inv = h.invoke(process, "confirm", {"order_id": order, "key": key, "user": user})
    value: dict[str, Any] = {}
    if status is not None:
        value["response"] = {"status": status, "headers": {}, "body": {"amount": amount}}
    if outcome is not None:
        value["outcome"] = outcome
    return h.complete(inv, kind, value).index  # type: ignore[arg-type]


def read_order(h: History, order: str, paid: Any) -> int:
    inv = h.invoke("reader", "read_order", {"order_id": order})
    return h.ok(inv, {"paid": paid, "amount": 1500, "currency": "usd"}).index


# -- at_most_one_charge ---------------------------------------------------------------------


def test_at_most_one_charge_valid() -> None:
    result = at_most_one_charge.check(History(), ledger(charge("a", "o1"), charge("b", "o2")), CTX)
    assert result.valid is True
    assert result.counts["keys"] == 2
    assert result.counts["charges"] == 2
    assert result.first is None


def test_at_most_one_charge_reports_first_and_worst() -> None:
    rows = [
        charge("a", "o1"),
        charge("b", "o1"),
        charge("c", "o2"),
        charge("d", "o2"),
        charge("e", "o2"),
        charge("r", "o2", kind="refund") | {"charge_id": "ch_d", "metadata": {}},
    ]
    result = at_most_one_charge.check(History(), ledger(*rows), CTX)
    assert result.valid is False
    assert result.counts["double_charged_keys"] == 2
    assert result.first is not None and result.worst is not None
    assert result.first["order_id"] == "o1"
    assert result.first["charges"] == ["a", "b"]
    assert result.worst["order_id"] == "o2"
    assert result.worst["charges"] == ["c", "d", "e"]
    assert result.worst["refunds"] == ["r"]
    assert result.worst["net_charges"] == 2


def test_refunded_double_charge_is_still_a_violation() -> None:
    rows = [
        charge("a", "o1"),
        charge("b", "o1"),
        {**charge("r", None, kind="refund"), "charge_id": "ch_b"},
    ]
    result = at_most_one_charge.check(History(), ledger(*rows), CTX)
    assert result.valid is False
    assert result.counts["refunded_double_charges"] == 1


def test_at_most_one_charge_unknown_on_unkeyed_charges() -> None:
    result = at_most_one_charge.check(History(), ledger(charge("a", "o1"), charge("x", None)), CTX)
    assert result.valid == "unknown"
    assert result.counts["unkeyed_charges"] == 1
    assert "metadata.order_id" in result.message


# -- success_means_one_charge ----------------------------------------------------------------


def test_success_means_one_charge_valid() -> None:
    h = History()
    confirm(h, "p1", "o1", 200, outcome="success")
    result = success_means_one_charge.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid is True
    assert result.counts["successes"] == 1


def test_success_without_charge_and_double_charge() -> None:
    h = History()
    first = confirm(h, "p1", "o1", 200, outcome="success")
    inv = h.invoke("tab", "page_load", {"url": "/success?orderId=o2", "order_id": "o2"})
    worst = h.ok(inv, {"page_state": "success", "posts": []}).index
    rows = [charge("a", "o2"), charge("b", "o2"), charge("c", "o2")]
    result = success_means_one_charge.check(h, ledger(*rows), CTX)
    assert result.valid is False
    assert result.first is not None and result.worst is not None
    assert result.first["op"] == first
    assert result.first["charges"] == []
    assert result.worst["op"] == worst
    assert result.worst["charges"] == ["a", "b", "c"]
    assert result.counts["no_charge"] == 1
    assert result.counts["extra_charges"] == 2


def test_success_with_wrong_amount_from_context() -> None:
    h = History()
    confirm(h, "p1", "o1", 200, outcome="success")
    ctx = CheckContext(expected_amounts={"o1": 999}, ledger_read=True)
    result = success_means_one_charge.check(h, ledger(charge("a", "o1", 1500)), ctx)
    assert result.valid is False
    assert result.counts["wrong_amount"] == 1
    assert result.first is not None and result.first["expected_amount"] == 999


def test_success_amount_from_response_body() -> None:
    h = History()
    confirm(h, "p1", "o1", 200, outcome="success", amount=2000)
    result = success_means_one_charge.check(h, ledger(charge("a", "o1", 1500)), CTX)
    assert result.valid is False
    assert result.first is not None and result.first["expected_amount"] == 2000


def test_success_without_order_id_is_unknown() -> None:
    h = History()
    inv = h.invoke("tab", "page_load", {"url": "/success"})
    h.ok(inv, {"page_state": "success"})
    result = success_means_one_charge.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid == "unknown"
    assert result.counts["unattributed_successes"] == 1


def test_timeout_and_decline_are_not_successes() -> None:
    h = History()
    confirm(h, "p1", "o1", None, kind="info", outcome="unknown")
    confirm(h, "p2", "o2", 402, kind="fail", outcome="failed")
    result = success_means_one_charge.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid is True
    assert result.counts["successes"] == 0


# -- no_orphan_charge / no_lost_payment ------------------------------------------------------

PASSED = CheckContext(reconcile_window_passed=True, ledger_read=True)


def test_no_orphan_charge_unknown_before_window() -> None:
    h = History()
    read_order(h, "o1", False)
    result = no_orphan_charge.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid == "unknown"
    assert "reconcile window" in result.message


def test_no_orphan_charge_uses_latest_read() -> None:
    h = History()
    read_order(h, "o1", False)
    read_order(h, "o1", True)
    result = no_orphan_charge.check(h, ledger(charge("a", "o1")), PASSED)
    assert result.valid is True


def test_no_orphan_charge_violation() -> None:
    h = History()
    read_order(h, "o1", True)
    latest = read_order(h, "o2", True)
    orphan = read_order(h, "o2", False)
    result = no_orphan_charge.check(h, ledger(charge("a", "o1"), charge("b", "o2")), PASSED)
    assert result.valid is False
    assert result.first is not None
    assert result.first["op"] == orphan != latest
    assert result.first["charges"] == ["b"]
    assert result.counts["orphans"] == 1


def test_no_orphan_charge_unread_is_unknown() -> None:
    h = History()
    read_order(h, "o1", True)
    result = no_orphan_charge.check(h, ledger(charge("a", "o1"), charge("b", "o2")), PASSED)
    assert result.valid == "unknown"
    assert result.counts["unread"] == 1


def test_no_lost_payment() -> None:
    h = History()
    read_order(h, "o1", True)
    read_order(h, "o2", False)
    assert no_lost_payment.check(h, ledger(charge("a", "o1")), CTX).valid is True
    lost = read_order(h, "o3", True)
    result = no_lost_payment.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == lost
    assert result.counts == {
        "orders_read": 3,
        "paid_orders": 2,
        "lost": 1,
        "unreadable": 0,
        "never_read": 0,
    }


def test_no_lost_payment_unknown_without_paid_flag() -> None:
    h = History()
    read_order(h, "o1", "yes")
    assert no_lost_payment.check(h, ledger(), CTX).valid == "unknown"


# -- told_the_truth --------------------------------------------------------------------------


def test_told_the_truth_valid_decline_without_charge() -> None:
    h = History()
    confirm(h, "p1", "o1", 402, kind="fail", outcome="failed")
    confirm(h, "p2", "o2", 500, kind="info", key="k2")
    result = told_the_truth.check(h, ledger(charge("a", "o2")), CTX)
    assert result.valid is True
    assert result.counts["charged_orders"] == 1


def test_told_the_truth_decline_then_success_with_a_new_key_is_the_truth() -> None:
    h = History()
    confirm(h, "p1", "o1", 402, kind="fail", outcome="failed", key="k1")
    confirm(h, "p1", "o1", 200, key="k2", outcome="success")
    result = told_the_truth.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid is True


def test_told_the_truth_ignores_a_refused_changed_body() -> None:
    h = History()
    confirm(h, "p1", "o1", None, kind="info", outcome="unknown")
    call = h.invoke("p1", "confirm", {"order_id": "o1", "key": "k1", "tampered": True})
    h.fail(call, {"response": {"status": 422, "body": {}}, "outcome": "failed"})
    result = told_the_truth.check(h, ledger(charge("a", "o1")), CTX)
    assert result.valid is True
    assert result.counts["told_failed_but_charged"] == 0


def test_told_failed_but_charged() -> None:
    h = History()
    confirm(h, "p1", "o1", None, kind="info", outcome="unknown")
    last = confirm(h, "p1", "o1", 402, kind="fail", outcome="failed")
    confirm(h, "p2", "o2", 400, kind="fail", key="k2")
    confirm(h, "p2", "o2", 200, key="k2", outcome="success")
    result = told_the_truth.check(h, ledger(charge("a", "o1"), charge("b", "o2")), CTX)
    assert result.valid is False
    assert result.first is not None and result.first["op"] == last
    assert result.counts["told_failed_but_charged"] == 1


def test_told_the_truth_409_is_not_a_lie() -> None:
    h = History()
    confirm(h, "p1", "o1", 409, kind="fail", outcome="pending")
    assert told_the_truth.check(h, ledger(charge("a", "o1")), CTX).valid is True


def test_told_the_truth_unknown_without_order() -> None:
    h = History()
    inv = h.invoke("p1", "confirm", {"key": "k"})
    h.fail(inv, {"response": {"status": 402, "body": {}}})
    assert told_the_truth.check(h, ledger(charge("a", "o1")), CTX).valid == "unknown"


def test_awaiting_3ds_is_neither_paid_nor_failed() -> None:
    # 202 requires_action (the API) and a tab at the provider's challenge (outcome pending):
    # the challenge completed later charged, and nobody was told "failed".
    h = History()
    confirm(h, "p1", "o1", 202)
    confirm(h, "tab-1", "o1", None, key="page", outcome="pending")
    assert told_the_truth.check(h, ledger(charge("a", "o1")), CTX).valid is True
    # Nothing was charged while the challenge waits: no charge is missing an answer either.
    assert no_lost_payment.check(h, ledger(), CTX).valid is not False
    # The same 202 followed by a decline of that key after the charge is a lie.
    confirm(h, "p1", "o1", 402, outcome="failed", kind="fail")
    assert told_the_truth.check(h, ledger(charge("a", "o1")), CTX).valid is False
