"""Every ledger row goes to the scenario run it belongs to (harness._attribution)."""

from __future__ import annotations

from harness._attribution import Window, attribute
from harness.ledger import LedgerEntry


def row(
    seq: int, order: str | None, *, kind: str = "charge", created: float = 0.0, **extra: str
) -> LedgerEntry:
    metadata = {"order_id": order} if order else {}
    return LedgerEntry.from_row(
        {"id": f"le_{seq}", "kind": kind, "amount": 100, "metadata": metadata, "seq": seq,
         "created": created, **extra}
    )  # fmt: skip


def test_rows_of_a_known_order_go_to_the_run_that_created_it_wherever_they_fall() -> None:
    windows = [Window(0, 0, 5, frozenset({"o1"})), Window(1, 5, 9, frozenset({"o2"}))]
    result = attribute([row(7, "o1"), row(2, "o2")], windows, "order_id")
    assert [e.id for e in result.shares[0].entries] == ["le_7"]
    assert [e.id for e in result.shares[1].entries] == ["le_2"]
    assert result.orphans == [] and result.shares[0].strays == []


def test_a_charge_under_an_order_nobody_created_counts_against_the_one_purchase() -> None:
    windows = [Window(0, 0, 5, frozenset({"o1"}))]
    result = attribute([row(1, "o1"), row(2, "made-up-by-the-checkout")], windows, "order_id")
    share = result.shares[0]
    assert share.strays == ["le_2"]
    assert [e.key("order_id") for e in share.entries] == ["o1", "o1"]
    assert share.entries[1].own_key("order_id") == "made-up-by-the-checkout"
    assert "one purchase" in share.how["le_2"]


def test_unkeyed_rows_in_overlapping_windows_go_to_the_run_paying_at_that_moment() -> None:
    windows = [
        Window(0, 0, 10, frozenset({"o1", "o3"}), busy=((100.0, 101.0),)),
        Window(1, 0, 10, frozenset({"o2"}), busy=((200.0, 201.0),)),
    ]
    result = attribute([row(3, None, created=200.5)], windows, "order_id")
    assert [e.id for e in result.shares[1].entries] == ["le_3"]
    assert result.shares[0].entries == [] and result.shares[0].ambiguous == []


def test_a_row_no_single_run_can_own_is_ambiguous_for_each_candidate() -> None:
    windows = [Window(0, 0, 10, frozenset({"o1"})), Window(1, 0, 10, frozenset({"o2"}))]
    result = attribute([row(3, None, created=5.0)], windows, "order_id")
    assert result.shares[0].ambiguous == ["le_3"] and result.shares[1].ambiguous == ["le_3"]
    assert result.shares[0].entries == []


def test_rows_outside_every_window_are_orphans_of_the_whole_run() -> None:
    result = attribute([row(12, "zzz")], [Window(0, 0, 10, frozenset({"o1"}))], "order_id")
    assert [e.id for e in result.orphans] == ["le_12"]


def test_a_refund_follows_its_charge() -> None:
    charge = row(1, "o1", charge_id="ch_1")
    refund = row(20, None, kind="refund", charge_id="ch_1")
    result = attribute([charge, refund], [Window(0, 0, 5, frozenset({"o1"}))], "order_id")
    assert [e.id for e in result.shares[0].entries] == ["le_1", "le_20"]
    assert result.orphans == []
