"""Ledger sources: where the harness reads the money the provider really moved.

The runner needs four things of a ledger, whatever provider holds it:

- a *cursor*, a count that grows as rows appear, noted before and after each scenario run
  (the run's window, :mod:`harness._attribution`);
- the rows *after* a cursor, as :class:`~harness.ledger.LedgerEntry` values;
- a *settle*: wait until the ledger has been quiet for a while, so that a late charge is
  read rather than missed;
- whether one business key has a charge yet (a hint that lets a scenario stop waiting
  for the checkout to reconcile; the checkers judge afterwards).

Two sources implement :class:`LedgerSource`:

- :class:`~harness.ledger_sources.fake.FakeLedger` reads the fake provider's own ledger
  (``/_fake/ledger``), with its server-side ``seq``;
- :class:`~harness.ledger_sources.stripe.StripeLedger` reads Stripe's public API only
  (``/v1/charges``, ``/v1/payment_intents``, ``/v1/refunds``) with the account's test
  key, and numbers rows itself in the order it first sees them.

:func:`open_source` picks one from the profile's ``[provider] ledger``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from harness.ledger import LedgerEntry

if TYPE_CHECKING:
    from harness.target import Target


class LedgerSource(Protocol):
    """What the runner reads the provider's ledger through."""

    account_probe: bool
    """Whether the preflight probe (the fake's request log) can check the checkout's
    account; ``False``: it cannot run, and the source reads only its own key's account."""

    unavailable: dict[str, str]
    """Capabilities this source cannot serve, with why (scenarios needing them are
    ``not_applicable``)."""

    def describe(self) -> str:
        """One line for reports and logs: what is read, where, with which key."""
        ...

    def check(self) -> None:
        """Read once; raise :class:`~harness._preflight.SetupError` when the source is
        unreachable or refuses the key."""
        ...

    def cursor(self) -> int:
        """How far the ledger has gone (rows with a larger seq are newer)."""
        ...

    def rows(self, after_seq: int) -> list[LedgerEntry]:
        """Every row with a seq above ``after_seq``, oldest first."""
        ...

    def settle(self, quiet_s: float, limit_s: float) -> None:
        """Return once no row appeared for ``quiet_s`` (or after ``limit_s``)."""
        ...

    def charged(self, field: str, value: str) -> bool:
        """Whether a charge under business key ``field = value`` is in the ledger yet."""
        ...

    def close(self) -> None: ...


def open_source(target: Target) -> LedgerSource:
    """The source the target's profile names (``[provider] ledger``)."""
    provider = target.profile.provider
    if provider.ledger == "stripe":
        from harness.ledger_sources._keys import read_test_key
        from harness.ledger_sources.stripe import StripeLedger

        key = read_test_key(provider)
        return StripeLedger(key, provider.api_base, business_key=provider.business_key)
    from harness.ledger_sources.fake import FakeLedger

    return FakeLedger(target.provider_url)


__all__ = ["LedgerSource", "open_source"]
