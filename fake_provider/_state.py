"""Where the fake keeps its objects: memory, optionally written through to SQLite.

Every object lives in a named table as a JSON document under a string key. With a
``path`` each ``put``/``delete`` is committed to SQLite before it returns, so a
restarted fake sees every intent, ledger line and idempotency record it had.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

TABLES = (
    "intents",
    "charges",
    "refunds",
    "ledger",
    "idempotency",
    "events",
    "endpoints",
    "checkout_sessions",
    "meta",  # counters that must outlive a reset, such as the ledger's last seq
)


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._tables: dict[str, dict[str, Any]] = {name: {} for name in TABLES}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS objects ("
                " tbl TEXT NOT NULL,"  # which table: one of TABLES
                " key TEXT NOT NULL,"  # the object's id (or account + idempotency key)
                " doc TEXT NOT NULL,"  # the object as JSON
                " PRIMARY KEY (tbl, key))"
            )
            rows = self._db.execute("SELECT tbl, key, doc FROM objects ORDER BY tbl, key")
            for tbl, key, doc in rows:
                if tbl in self._tables:
                    self._tables[tbl][key] = json.loads(doc)

    def get(self, table: str, key: str) -> Any:
        return self._tables[table].get(key)

    def values(self, table: str) -> list[Any]:
        return list(self._tables[table].values())

    def keys(self, table: str) -> list[str]:
        return list(self._tables[table])

    def put(self, table: str, key: str, value: Any) -> None:
        with self._lock:
            self._tables[table][key] = value
            if self._db is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO objects (tbl, key, doc) VALUES (?, ?, ?)",
                    (table, key, json.dumps(value, separators=(",", ":"))),
                )

    def delete(self, table: str, key: str) -> None:
        with self._lock:
            self._tables[table].pop(key, None)
            if self._db is not None:
                self._db.execute("DELETE FROM objects WHERE tbl = ? AND key = ?", (table, key))

    def clear(self) -> None:
        with self._lock:
            for table in self._tables.values():
                table.clear()
            if self._db is not None:
                self._db.execute("DELETE FROM objects")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
