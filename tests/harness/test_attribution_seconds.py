"""A ledger time in whole seconds (Stripe's ``created``) stands for the second it names."""

from __future__ import annotations

from harness._attribution import Window, attribute
from harness.ledger import LedgerEntry


def unkeyed(created: float | int) -> LedgerEntry:
    return LedgerEntry.from_row(
        {"id": "ch_1", "kind": "charge", "amount": 100, "seq": 3, "created": created}
    )


WINDOWS = [  # two runs at once; run 1 was paying from 200.6 s to 201.2 s
    Window(0, 0, 10, frozenset({"o1"}), busy=((100.0, 101.0),)),
    Window(1, 0, 10, frozenset({"o2"}), busy=((200.6, 201.2),)),
]


def test_a_whole_second_covers_a_payment_that_began_within_it() -> None:
    # Stripe stamps 200 for a charge made at 200.7: the run paying then takes it
    result = attribute([unkeyed(200)], WINDOWS, "order_id")
    assert [e.id for e in result.shares[1].entries] == ["ch_1"]
    assert result.shares[0].ambiguous == [] and result.shares[1].ambiguous == []


def test_a_precise_time_keeps_its_tight_slack() -> None:
    # the fake's float time 200.0 is 0.6 s before run 1 paid: nobody was paying then
    result = attribute([unkeyed(200.0)], WINDOWS, "order_id")
    assert result.shares[0].ambiguous == ["ch_1"] and result.shares[1].ambiguous == ["ch_1"]


def test_a_whole_second_far_from_every_payment_stays_ambiguous() -> None:
    result = attribute([unkeyed(150)], WINDOWS, "order_id")
    assert result.shares[0].ambiguous == ["ch_1"] and result.shares[1].ambiguous == ["ch_1"]
