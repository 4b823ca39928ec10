"""Type aliases shared by the reference checkout's modules."""

from __future__ import annotations

from typing import Any, Literal

JSONDict = dict[str, Any]
"""A JSON object as decoded by the standard library."""

PaymentStatus = Literal["PENDING", "CONFIRMED", "FAILED"]
OrderStatus = Literal["open", "paid"]
RecoveryPoint = Literal["started", "payment_created", "provider_called", "finished"]
