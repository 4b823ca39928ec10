"""Shared type aliases and the JSON shapes of the fake provider's control API."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypedDict, get_args

JSON: TypeAlias = dict[str, Any]
FormValue: TypeAlias = "str | list[FormValue] | dict[str, FormValue]"
LedgerKind = Literal["charge", "decline", "refund", "attempt"]
FaultMode = Literal[
    "delay",
    "error_before",
    "error_after",
    "drop_after",
    "hang_after",
    "in_flight",
    "search_lag",
    "await_webhook",
]
FAULT_MODES: tuple[str, ...] = get_args(FaultMode)


class LedgerEntry(TypedDict):
    """One line of the ledger: the provider's record of what really happened."""

    seq: int
    """Position in the ledger: grows by one per line and never goes back, not even on reset."""
    id: str
    kind: LedgerKind
    intent_id: str | None
    charge_id: str | None
    amount: int
    currency: str
    metadata: dict[str, str]
    idempotency_key: str | None
    account: str
    created: float


class KeySummary(TypedDict):
    charges: int
    amount_charged: int
    refunds: int
    amount_refunded: int
    declines: int
    currency: str


class Summary(TypedDict):
    field: str
    keys: dict[str, KeySummary]
    over_charged: list[str]
    total_charges: int


class RequestRecord(TypedDict):
    """One Stripe API request as the fake saw it, logged when it ended."""

    seq: int
    """Order in which requests ended: grows by one per record, never goes back."""
    request_id: str
    """The ``Request-Id`` header of the answer (fault hits name the same id)."""
    method: str
    path: str
    idempotency_key: str | None
    status: int | None
    """What the client was answered; ``None`` when no answer reached it (dropped, or the
    client closed the connection while a ``hang_after`` fault held the answer)."""
    replayed: bool
    fault: str | None
    money: bool
    """The call can move money: a create with ``confirm=true``, a confirm or a capture."""
    started: float
    duration_ms: float
    account: str | None


class FaultHit(TypedDict):
    """One firing of a fault: the request it fired on and what it did to it."""

    request_id: str
    method: str
    path: str
    idempotency_key: str | None
    account: str | None
    at: float
    """Unix time when the fault fired."""
    money: bool
    replayed: bool
    """The request was answered from the idempotency record, so no new work was done."""
    effect: str | None
    """What the fault did, in one sentence; ``None`` while the request is still running."""
    charged: bool
    """The request's work wrote a charge to the ledger (money really moved)."""


class FaultRecord(TypedDict):
    id: str
    endpoint: str
    mode: FaultMode
    status: int
    delay_ms: int
    count: int | None
    probability: float | None
    seed: int | None
    metadata: dict[str, list[str]] | None
    """The fault's scope (metadata key → values it aims at); ``None``: unscoped."""
    fired: int
    hits: list[FaultHit]


class Delivery(TypedDict):
    """One attempt to deliver one event to one webhook endpoint."""

    id: str
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    copy: int
    status: int | None
    error: str | None
    sent_at: float
