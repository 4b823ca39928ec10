"""The provider's Checkout Session calls, Stripe's HTTP shape: create, retrieve.

Create carries the checkout's own idempotency key (derived from the order and the attempt),
and every retry reuses it, so a retried or repeated create answers the same session. An
answer that is not a session (a timeout, a 5xx after the last attempt) raises
``ProviderUnavailable``: the caller shows "try again" and keeps its row, never guesses.
"""

from __future__ import annotations

from typing import Any

from reference_app.provider import ProviderClient, ProviderUnavailable, _error_message, _json

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
        answer = self._request_retried(method, path, form, headers)
        if isinstance(answer, str):
            raise ProviderUnavailable(f"{method} {path}: no answer after retries ({answer})")
        if answer.status_code != 200:
            raise ProviderUnavailable(
                f"{method} {path} answered HTTP {answer.status_code}: {_error_message(answer)}"
            )
        body = _json(answer)
        if body.get("object") != "checkout.session":
            raise ProviderUnavailable(f"{method} {path}: the answer is not a session")
        return body
