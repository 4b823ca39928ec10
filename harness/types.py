"""Type aliases shared by the harness modules (one place, as in starlette's ``types.py``)."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

JSONDict: TypeAlias = dict[str, Any]
"""A decoded JSON object."""

Validity: TypeAlias = bool | Literal["unknown"]
"""A checker's verdict: ``True`` (valid), ``False`` (violated) or ``"unknown"`` (cannot tell)."""

Evidence: TypeAlias = dict[str, Any]
"""What a checker points at: op indexes (``op``, ``ops``), ledger entry ids, values seen."""

ScenarioStatus: TypeAlias = Literal["passed", "failed", "not_applicable", "error"]
"""The status of one scenario run in a report."""

LedgerKind: TypeAlias = Literal["charge", "decline", "refund", "attempt"]
"""The kinds of row the fake provider's ledger holds."""

Capability: TypeAlias = Literal[
    "api",
    "browser",
    "browser_spa",
    "provider_faults",
    "network_faults",
    "process",
    "webhooks",
    "read_order",
    "idempotency_key",
    "payment_method",
    "choose_card",
    "threeds",
    "capture",
    "hosted_checkout",
]
"""What a target profile lets the harness do; scenarios declare the ones they need."""

Severity: TypeAlias = Literal["money", "hygiene"]
"""What a violated invariant costs: customers' money, or good practice (reported, gated
only when asked)."""
