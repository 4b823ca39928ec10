from __future__ import annotations

from typing import Any

import pytest

from harness.ledger import LedgerEntry, LedgerError, LedgerView


def row(id_: str, kind: str, order: str | None, amount: int = 1500, **extra: Any) -> dict[str, Any]:
    metadata = {} if order is None else {"order_id": order}
    return {
        "id": id_,
        "kind": kind,
        "intent_id": extra.get("intent_id", f"pi_{id_}"),
        "charge_id": extra.get("charge_id"),
        "amount": amount,
        "currency": "usd",
        "metadata": extra.get("metadata", metadata),
        "idempotency_key": None,
        "account": extra.get("account", "sk_test_nodouble"),
        "created": 1700000000,
    }


ROWS = [
    row("l1", "charge", "o1", charge_id="ch_1"),
    row("l2", "charge", "o1", charge_id="ch_2"),
    row("l3", "refund", None, charge_id="ch_2"),
    row("l4", "decline", "o2"),
    row("l5", "charge", "o3", charge_id="ch_3"),
    row("l6", "attempt", "o4"),
    row("l7", "charge", None, charge_id="ch_4"),
]


def test_groups_rows_by_business_key() -> None:
    view = LedgerView.from_rows(ROWS)
    assert [e.id for e in view.charges("o1")] == ["l1", "l2"]
    assert view.business_keys() == ["o1", "o3", ""]
    assert view.business_keys(("decline",)) == ["o2"]
    assert [e.id for e in view.declines("o2")] == ["l4"]
    assert view.charges("o2") == []


def test_refunds_follow_their_charge_without_metadata() -> None:
    view = LedgerView.from_rows(ROWS)
    assert [e.id for e in view.refunds("o1")] == ["l3"]
    assert view.refunded("o1") == 1500
    assert view.charged("o1") == 3000
    assert view.net_amount("o1") == 1500
    assert view.net_charges("o1") == 1
    assert view.net_charges("o3") == 1
    assert view.refunded("o3") == 0


def test_partial_refund_leaves_the_charge_counted() -> None:
    view = LedgerView.from_rows(
        [row("c", "charge", "o", charge_id="ch"), row("r", "refund", None, 100, charge_id="ch")]
    )
    assert view.net_charges("o") == 1
    assert view.net_amount("o") == 1400


def test_other_business_key_field() -> None:
    rows = [row("a", "charge", None, metadata={"cart": "c9"})]
    assert LedgerView.from_rows(rows, field="cart").business_keys() == ["c9"]
    assert LedgerView.from_rows(rows).business_keys() == [""]


def test_accepts_api_envelope_dedupes_and_filters_account() -> None:
    other = row("z", "charge", "o1", account="sk_test_other")
    view = LedgerView.from_rows({"data": [ROWS[0], ROWS[0], other]}, account="sk_test_nodouble")
    assert [e.id for e in view.entries] == ["l1"]


def test_rows_for_includes_linked_refunds() -> None:
    view = LedgerView.from_rows(ROWS)
    assert [r["id"] for r in view.rows_for(["o1"])] == ["l1", "l2", "l3"]
    assert LedgerEntry.from_row(ROWS[0]).to_row() == ROWS[0]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"kind": "charge"}, "without an id"),
        ({"id": "x", "kind": "payout"}, "kind 'payout' is not one of"),
        ({"id": "x", "kind": "charge", "amount": "10"}, "amount '10' is not an integer"),
        ({"id": "x", "kind": "charge", "metadata": [1]}, "metadata [1] is not an object"),
    ],
)
def test_bad_rows_are_named(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(LedgerError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LedgerView.from_rows([bad])


def test_envelope_without_data_is_refused() -> None:
    with pytest.raises(LedgerError, match="'data' list"):
        LedgerView.from_rows({"rows": []})
