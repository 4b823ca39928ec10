"""Request and response shapes of the API (also the service's return types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reference_app.catalog import MAX_LINES, MAX_QUANTITY


class Product(BaseModel):
    sku: str
    name: str
    unit_amount: int = Field(description="price in cents")
    currency: str


class LineItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[LineItemIn] = Field(min_length=1, max_length=MAX_LINES)


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payment_method: str = Field(
        default="pm_card_visa", pattern=r"^pm_[A-Za-z0-9_]{1,100}$", examples=["pm_card_visa"]
    )
    amount: int | None = Field(
        default=None,
        description="Optional: the amount the customer saw, in minor units. It is never "
        "charged; if it differs from the order's amount the confirm is refused (422).",
    )
    capture_method: Literal["automatic", "manual"] | None = Field(
        default=None,
        description="Optional: manual only authorises the amount; POST .../capture takes "
        "it. Unset: the checkout's setting (NODOUBLE_CAPTURE_METHOD) decides.",
    )


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", examples=["alice"])


class SessionOut(BaseModel):
    user: str


class LineItemOut(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_amount: int
    amount: int


class PaymentView(BaseModel):
    payment_id: str
    status: str = Field(description="PENDING, CONFIRMED or FAILED")
    amount: int
    capture_method: str = Field(default="automatic", description="automatic or manual")
    capture_status: str | None = Field(
        default=None, description="manual capture: authorized, capturing or captured"
    )
    currency: str
    provider_payment_intent: str | None
    failure_code: str | None
    action_url: str | None = Field(
        default=None,
        description="Set while the payment waits for the customer's 3-D Secure: the page "
        "where they authenticate. Neither paid nor failed yet.",
    )


class OrderView(BaseModel):
    order_id: str
    status: str = Field(description="open, authorized (manual capture, not yet taken) or paid")
    amount: int
    currency: str
    items: list[LineItemOut]
    payment: PaymentView | None = None


class OrderCreated(BaseModel):
    order_id: str
    amount: int
    currency: str
    status: str


class ConfirmResult(BaseModel):
    """200: the order is paid (also replayed for every later confirm of it)."""

    order_id: str
    status: str = Field(description="paid")
    payment_id: str
    provider_payment_intent: str | None
    amount: int
    currency: str


class Problem(BaseModel):
    """RFC 9457 problem details; extra members depend on the problem."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str


class Health(BaseModel):
    status: str
    flaw: str | None = None
    """The deliberate flaw switched on (``NODOUBLE_FLAW``), or null: the real checkout."""


@dataclass(frozen=True)
class ConfirmOutcome:
    """What a confirm answers: status, JSON body, headers that matter, replayed or not."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


@dataclass(frozen=True)
class StoredAnswer:
    """A finished request's answer read back as it was stored, to be sent again verbatim:
    ``body`` is the JSON text first sent, ``headers`` those that matter (content type,
    ``Retry-After``)."""

    status: int
    headers: dict[str, str]
    body: str
