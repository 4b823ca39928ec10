"""The provider's ledger, as checkers see it.

The fake provider records every money movement in a ledger (``GET /_fake/ledger``). A
checker reads it through a :class:`LedgerView`: the rows grouped by a *business key*, the
value of one metadata field (``order_id`` by default) that the checkout attaches to the
payment. Refunds are linked to their charge by ``charge_id``, so a refund whose own
metadata lacks the field still counts for the right order.

Pure: building a view does no I/O. Rows the harness fetched over HTTP go in as dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from harness.types import JSONDict, LedgerKind

DEFAULT_BUSINESS_KEY = "order_id"
KINDS: frozenset[str] = frozenset({"charge", "decline", "refund", "attempt"})


class LedgerError(ValueError):
    """A ledger row does not have the shape ``docs/contracts.md`` promises."""


def _opt_str(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    return None if value is None else str(value)


def _opt_int(row: Mapping[str, Any], name: str) -> int | None:
    value = row.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the fake provider's ledger."""

    id: str
    kind: LedgerKind
    amount: int
    currency: str
    intent_id: str | None = None
    charge_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    account: str | None = None
    created: float | int | str | None = None
    seq: int | None = None
    """Position in the provider's ledger (grows with every row), when the provider says."""
    counted_as: str | None = None
    """The business key the harness counts this row under when its own metadata names
    none the run created (see :mod:`harness._attribution`); ``None``: its own key."""

    def key(self, field_name: str) -> str:
        """The business key this row counts under (``""`` when it has none)."""
        if self.counted_as is not None:
            return self.counted_as
        return str(self.metadata.get(field_name, ""))

    def own_key(self, field_name: str) -> str:
        """The business key the row's own metadata names (``""`` when none)."""
        return str(self.metadata.get(field_name, ""))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LedgerEntry:
        if not isinstance(row, Mapping):
            raise LedgerError(f"a ledger row is a JSON object, not {type(row).__name__}")
        if "id" not in row or row["id"] in (None, ""):
            raise LedgerError(f"ledger row without an id: {dict(row)!r}")
        kind = row.get("kind")
        if kind not in KINDS:
            raise LedgerError(
                f"ledger row {row['id']}: kind {kind!r} is not one of {', '.join(sorted(KINDS))}"
            )
        amount = row.get("amount", 0)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise LedgerError(f"ledger row {row['id']}: amount {amount!r} is not an integer")
        metadata = row.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise LedgerError(f"ledger row {row['id']}: metadata {metadata!r} is not an object")
        return cls(
            id=str(row["id"]),
            kind=cast(LedgerKind, kind),
            amount=amount,
            currency=str(row.get("currency") or ""),
            intent_id=_opt_str(row, "intent_id"),
            charge_id=_opt_str(row, "charge_id"),
            metadata={str(k): str(v) for k, v in metadata.items()},
            idempotency_key=_opt_str(row, "idempotency_key"),
            account=_opt_str(row, "account"),
            created=row.get("created"),
            seq=_opt_int(row, "seq"),
            counted_as=_opt_str(row, "counted_as"),
        )

    def to_row(self) -> JSONDict:
        return {
            "id": self.id,
            "kind": self.kind,
            "intent_id": self.intent_id,
            "charge_id": self.charge_id,
            "amount": self.amount,
            "currency": self.currency,
            "metadata": dict(self.metadata),
            "idempotency_key": self.idempotency_key,
            "account": self.account,
            "created": self.created,
            **({"seq": self.seq} if self.seq is not None else {}),
            **({"counted_as": self.counted_as} if self.counted_as is not None else {}),
        }


@dataclass(frozen=True)
class LedgerView:
    """The ledger grouped by business key. Build it with :meth:`from_rows`."""

    entries: tuple[LedgerEntry, ...] = ()
    field: str = DEFAULT_BUSINESS_KEY

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]] | Mapping[str, Any],
        field: str = DEFAULT_BUSINESS_KEY,
        account: str | None = None,
    ) -> LedgerView:
        """Rows as ``/_fake/ledger`` returns them (the list, or the ``{"data": [...]}``).

        Duplicate ids are kept once; ``account`` keeps only that account's rows.
        """
        if isinstance(rows, Mapping):
            data = rows.get("data")
            if not isinstance(data, list):
                raise LedgerError("a ledger response has a 'data' list")
            rows = data
        seen: dict[str, LedgerEntry] = {}
        for row in rows:
            entry = LedgerEntry.from_row(row)
            if account is not None and entry.account not in (None, account):
                continue
            seen.setdefault(entry.id, entry)
        return cls(entries=tuple(seen.values()), field=field)

    def _of(self, kind: str, key: str) -> list[LedgerEntry]:
        return [e for e in self.entries if e.kind == kind and e.key(self.field) == key]

    def charges(self, key: str) -> list[LedgerEntry]:
        """Successful charges for one business key, in ledger order."""
        return self._of("charge", key)

    def declines(self, key: str) -> list[LedgerEntry]:
        return self._of("decline", key)

    def refunds(self, key: str) -> list[LedgerEntry]:
        """Refunds of this key's charges (by ``charge_id``) or carrying the key themselves."""
        charges = self.charges(key)
        charge_ids = {e.id for e in charges} | {e.charge_id for e in charges if e.charge_id}
        return [
            e
            for e in self.entries
            if e.kind == "refund" and (e.charge_id in charge_ids or e.key(self.field) == key)
        ]

    def refunded(self, key: str) -> int:
        """Amount refunded for this key, in minor units."""
        return sum(e.amount for e in self.refunds(key))

    def charged(self, key: str) -> int:
        """Amount charged for this key, in minor units (refunds not deducted)."""
        return sum(e.amount for e in self.charges(key))

    def net_charges(self, key: str) -> int:
        """Charges of this key not fully refunded (a refunded double charge still happened)."""
        refunds = self.refunds(key)
        count = 0
        for charge in self.charges(key):
            ids = {charge.id, charge.charge_id}
            back = sum(r.amount for r in refunds if r.charge_id in ids)
            if back < charge.amount:
                count += 1
        return count

    def net_amount(self, key: str) -> int:
        """Amount charged minus amount refunded for this key."""
        return self.charged(key) - self.refunded(key)

    def business_keys(self, kinds: Iterable[str] = ("charge",)) -> list[str]:
        """Keys with at least one row of ``kinds`` (charges by default), in ledger order.

        The empty key ``""`` stands for rows whose metadata lacks the business-key field.
        """
        wanted = set(kinds)
        keys: dict[str, None] = {}
        for entry in self.entries:
            if entry.kind in wanted:
                keys.setdefault(entry.key(self.field), None)
        return list(keys)

    def all_charges(self) -> list[LedgerEntry]:
        return [e for e in self.entries if e.kind == "charge"]

    def rows_for(self, keys: Iterable[str]) -> list[JSONDict]:
        """The rows (as dicts) of these business keys, refunds included; for reports."""
        wanted = set(keys)
        ids = {e.id for k in wanted for e in self.refunds(k)}
        return [e.to_row() for e in self.entries if e.key(self.field) in wanted or e.id in ids]
