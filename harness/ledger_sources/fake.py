"""The fake provider's own ledger (``/_fake/ledger``): rows with a server-side ``seq``."""

from __future__ import annotations

import time

from fake_provider.client import FakeProviderClient
from harness._tls import tls_context
from harness.ledger import LedgerEntry


class FakeLedger:
    """Reads the fake's ledger through its control API; one HTTP client, thread-safe."""

    account_probe = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.unavailable: dict[str, str] = {}
        self._client = FakeProviderClient(url, verify=tls_context())

    def describe(self) -> str:
        return f"the fake provider's ledger at {self.url}/_fake/ledger"

    def check(self) -> None:
        from harness._preflight import check_provider

        check_provider(self.url)

    def cursor(self) -> int:
        return self._client.ledger_cursor()

    def rows(self, after_seq: int) -> list[LedgerEntry]:
        return [LedgerEntry.from_row(r) for r in self._client.ledger(after_seq=after_seq)]

    def settle(self, quiet_s: float, limit_s: float) -> None:
        limit = time.monotonic() + limit_s
        last, since = self.cursor(), time.monotonic()
        while time.monotonic() < limit and time.monotonic() - since < quiet_s:
            time.sleep(0.2)
            now = self.cursor()
            if now != last:
                last, since = now, time.monotonic()

    def charged(self, field: str, value: str) -> bool:
        return bool(self._client.ledger(field=field, value=value, kind="charge"))

    def close(self) -> None:
        self._client.close()
