"""The provider's Checkout Session calls, Stripe's HTTP shape: create, retrieve.

Create carries the checkout's own idempotency key (derived from the order and the attempt),
and every retry reuses it, so a retried or repeated create answers the same session. An
answer that is not a session (a timeout, a 5xx after the last attempt) raises
``ProviderUnavailable``: the caller shows "try again" and keeps its row, never guesses.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from reference_app.provider import (
    _RETRY_STATUSES,
    ProviderClient,
    ProviderUnavailable,
    _error_message,
    _json,
)

log = logging.getLogger("reference_app.hosted")

JSON = dict[str, Any]


class SessionsClient(ProviderClient):
    """``/v1/checkout/sessions`` of the Stripe-compatible provider; thread-safe. Built like
    the payment client (same base URL, key, timeout and retry budget)."""

    def create(self, form: dict[str, str], key: str) -> JSON:
        """``POST /v1/checkout/sessions`` under ``key``; retried with the same key."""
        return self._send("POST", "/v1/checkout/sessions", form, {"Idempotency-Key": key})

    def expire(self, session_id: str) -> JSON:
        """``POST /v1/checkout/sessions/{id}/expire``: an open session can no longer be paid."""
        return self._send("POST", f"/v1/checkout/sessions/{session_id}/expire", {}, {})

    def retrieve_session(self, session_id: str) -> JSON:
        """``GET /v1/checkout/sessions/{id}``: the session as the provider has it now."""
        return self._send("GET", f"/v1/checkout/sessions/{session_id}", None, {})

    def _send(
        self, method: str, path: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> JSON:
        last = "no attempt"
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.request(method, path, data=form, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    body = _json(response)
                    if body.get("object") == "checkout.session":
                        return body
                    raise ProviderUnavailable(f"{method} {path}: the answer is not a session")
                if response.status_code not in _RETRY_STATUSES:
                    raise ProviderUnavailable(
                        f"{method} {path} answered HTTP {response.status_code}: "
                        f"{_error_message(response)}"
                    )
                last = f"HTTP {response.status_code}"
            log.warning("%s %s failed (attempt %d): %s", method, path, attempt, last)
            if attempt < self._max_attempts:
                time.sleep(self._backoff * (2 ** (attempt - 1)))
        raise ProviderUnavailable(f"{method} {path}: no answer after retries ({last})")
