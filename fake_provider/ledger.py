"""The ledger: the fake's own record of every charge, decline, refund and attempt.

It is the ground truth the checkers compare a checkout's story against: if the
ledger shows two charges for one order, the customer was charged twice, whatever
the checkout's database says.

Each line has a ``seq``, one more than the line before. A reader takes the cursor (the
last ``seq``) before it acts and later asks for the lines ``after_seq`` it, to see every
line written in between, whatever key or account they carry. ``seq`` never goes back:
a reset forgets the lines but not the count, and the count is kept in the state file, so
a cursor taken before a reset or a restart never hides a line written after it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fake_provider._state import Store
from fake_provider.types import KeySummary, LedgerEntry, LedgerKind, Summary

_SEQ_KEY = "ledger_seq"
"""Row of the ``meta`` table that keeps the last ``seq`` across a reset."""


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        kept = int(store.get("meta", _SEQ_KEY) or 0)  # how far seq went before a reset
        self._seq = max([kept, *(int(k) for k in store.keys("ledger"))])

    def record(
        self,
        kind: LedgerKind,
        *,
        account: str,
        amount: int,
        currency: str,
        intent_id: str | None = None,
        charge_id: str | None = None,
        metadata: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> LedgerEntry:
        with self._lock:
            self._seq += 1
            entry: LedgerEntry = {
                "seq": self._seq,
                "id": f"le_{self._seq:08d}",
                "kind": kind,
                "intent_id": intent_id,
                "charge_id": charge_id,
                "amount": amount,
                "currency": currency,
                "metadata": dict(metadata or {}),
                "idempotency_key": idempotency_key,
                "account": account,
                "created": time.time(),
            }
            self.store.put("ledger", f"{self._seq:012d}", entry)
        return entry

    def entries(
        self,
        *,
        field: str | None = None,
        value: str | None = None,
        account: str | None = None,
        kind: str | None = None,
        after_seq: int | None = None,
    ) -> list[LedgerEntry]:
        """Lines in ``seq`` order, filtered; ``after_seq``: only lines with a larger ``seq``."""
        result: list[LedgerEntry] = []
        for key in self.store.keys("ledger"):
            entry: LedgerEntry = self.store.get("ledger", key)
            if "seq" not in entry:  # written before lines carried their seq: the key is it
                entry = {**entry, "seq": int(key)}
            if after_seq is not None and entry["seq"] <= after_seq:
                continue
            if account is not None and entry["account"] != account:
                continue
            if kind is not None and entry["kind"] != kind:
                continue
            if (
                field is not None
                and value is not None
                and entry["metadata"].get(field, "") != value
            ):
                continue
            result.append(entry)
        return result

    def summary(self, field: str = "order_id", account: str | None = None) -> Summary:
        """Group by one metadata field; a key with more than one charge is over-charged."""
        keys: dict[str, KeySummary] = {}
        total = 0
        for entry in self.entries(account=account):
            if entry["kind"] == "attempt":
                continue
            value = entry["metadata"].get(field, "")
            row = keys.setdefault(value, _empty(entry["currency"]))
            if entry["kind"] == "charge":
                row["charges"] += 1
                row["amount_charged"] += entry["amount"]
                total += 1
            elif entry["kind"] == "refund":
                row["refunds"] += 1
                row["amount_refunded"] += entry["amount"]
            elif entry["kind"] == "decline":
                row["declines"] += 1
        over = sorted(k for k, row in keys.items() if k != "" and row["charges"] > 1)
        return {"field": field, "keys": keys, "over_charged": over, "total_charges": total}

    def cursor(self) -> int:
        """The ``seq`` of the last line written (0 before any)."""
        with self._lock:
            return self._seq

    def clear(self) -> None:
        """Called after the store was wiped: remember how far ``seq`` went, in the store."""
        with self._lock:
            self.store.put("meta", _SEQ_KEY, self._seq)


def _empty(currency: str) -> KeySummary:
    return {
        "charges": 0,
        "amount_charged": 0,
        "refunds": 0,
        "amount_refunded": 0,
        "declines": 0,
        "currency": currency,
    }


def metadata_of(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {str(k): str(v) for k, v in meta.items()}
