"""Which scenario run each ledger row belongs to: every charge is accounted for.

The harness does not trust the checkout to label its payments the way the profile says.
It reads *every* row the provider wrote during a harness run, whatever its business key,
account or metadata, and gives each row to one scenario run:

1. a row whose business key (or, for a refund, whose charge) belongs to an order a run
   created belongs to that run;
2. any other row belongs to the run whose ledger window holds it: the rows written
   between the ledger cursor read just before the run started and the one read just
   after it ended. When several runs were going on at once, the run that had a payment
   request in flight at the row's time takes it;
3. a row that still fits more than one run is *ambiguous* (each of those runs is then
   undecided about money, never passed), and a row in no window at all is an *orphan*
   of the whole harness run (written after every scenario ended: a late charge).

Within its run, a row whose own business key is not one of the run's orders is a
*stray*: a charge under an order the checkout made up, under no business key, or under
an unexpected account. When the run bought one order, a stray counts as a charge of that
purchase (``counted_as``), so a checkout that re-creates a paid order and charges it
again is caught as a double charge of the one purchase.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.ledger import LedgerEntry

SLACK_S = 0.25
"""Seconds of clock slack when matching a row's time to a request in flight."""


@dataclass(frozen=True)
class Window:
    """What the attribution needs to know of one scenario run."""

    run: int
    first_seq: int
    """Ledger cursor just before the run started (rows after it may be the run's)."""
    last_seq: int
    """Ledger cursor just after the run ended (rows up to it may be the run's)."""
    orders: frozenset[str] = frozenset()
    """Business keys of the orders the run created."""
    busy: tuple[tuple[float, float], ...] = ()
    """Wall-clock spans (unix seconds) of the run's payment requests."""

    def holds(self, seq: int | None) -> bool:
        return seq is not None and self.first_seq < seq <= self.last_seq

    def in_flight(self, at: float | None, width: float = 0.0) -> bool:
        """Whether a payment request of the run was in flight during ``[at, at + width]``
        (``width`` 1: a time in whole seconds, which stands for the second it names)."""
        if at is None:
            return False
        return any(
            start - SLACK_S <= at + width and at <= end + SLACK_S for start, end in self.busy
        )


@dataclass
class Share:
    """The ledger as one run sees it."""

    entries: list[LedgerEntry] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    """Ids of rows whose own business key is none of the run's orders."""
    ambiguous: list[str] = field(default_factory=list)
    """Ids of rows that may be this run's or another's: money undecided."""
    how: dict[str, str] = field(default_factory=dict)
    """Row id → why the row was given to this run (for the report)."""


@dataclass
class Attribution:
    shares: dict[int, Share]
    orphans: list[LedgerEntry]
    """Rows written outside every run's window, under no order a run created."""


def _created(entry: LedgerEntry) -> float | None:
    value = entry.created
    return float(value) if isinstance(value, int | float) else None


def _width(entry: LedgerEntry) -> float:
    """1 for a time in whole seconds (Stripe's ``created``), else 0 (the fake's float)."""
    return 1.0 if isinstance(entry.created, int) and not isinstance(entry.created, bool) else 0.0


def attribute(
    entries: Iterable[LedgerEntry], windows: Sequence[Window], field_name: str
) -> Attribution:
    """Give every row to a run (see the module docstring)."""
    rows = list(entries)
    owner_of_order = {order: w.run for w in windows for order in w.orders}
    shares = {w.run: Share() for w in windows}
    orders_of = {w.run: w.orders for w in windows}
    orphans: list[LedgerEntry] = []
    run_of_row: dict[str, int] = {}

    def give(run: int, entry: LedgerEntry, why: str) -> None:
        share = shares[run]
        own = entry.own_key(field_name)
        if own not in orders_of[run]:
            share.strays.append(entry.id)
            only = sorted(orders_of[run])
            if len(only) == 1:
                entry = dataclasses.replace(entry, counted_as=only[0])
                why += f"; counted as a charge of order {only[0]}, the run's one purchase"
        share.entries.append(entry)
        share.how[entry.id] = why
        run_of_row[entry.id] = run
        if entry.charge_id:
            run_of_row.setdefault(entry.charge_id, run)

    for entry in rows:
        own = entry.own_key(field_name)
        if own in owner_of_order:
            give(owner_of_order[own], entry, f"its metadata.{field_name} is the run's order")
            continue
        linked = run_of_row.get(entry.charge_id) if entry.charge_id else None
        if linked is not None:
            give(linked, entry, f"it refers to charge {entry.charge_id} of the run")
            continue
        holders = [w for w in windows if w.holds(entry.seq)]
        if len(holders) > 1:
            busy = [w for w in holders if w.in_flight(_created(entry), _width(entry))]
            holders = busy or holders
        if not holders:
            orphans.append(entry)
        elif len(holders) == 1:
            give(holders[0].run, entry, "written while this run, and no other, could cause it")
        else:
            for window in holders:
                shares[window.run].ambiguous.append(entry.id)
    return Attribution(shares, orphans)
