"""The payment provider client: Stripe's HTTP API shape, sync httpx, bounded retries.

Every call that can charge carries the payment's own provider idempotency key, and every
retry reuses it, so the provider performs the charge at most once. An answer that does not
say for sure whether money moved (a timeout, a dropped connection, a 5xx after the last
attempt) is ``unknown``, never ``failed``: the payment stays PENDING and is settled later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from reference_app import flaws

log = logging.getLogger("reference_app.provider")

ChargeOutcome = Literal["succeeded", "declined", "unknown", "action", "authorized"]
"""``action``: the provider waits for the customer (3-D Secure); nothing is charged yet.
``authorized``: a manual-capture intent waits in ``requires_capture`` (no money moved)."""
_RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
_FAILED_INTENT_STATUSES = frozenset({"requires_payment_method", "canceled"})


@dataclass(frozen=True)
class ChargeRequest:
    """What to charge; the provider key is derived from the payment id by the caller."""

    provider_key: str
    amount: int
    currency: str
    payment_method: str
    order_id: str
    payment_id: str
    return_url: str | None = None
    """Where the provider sends the customer back after 3-D Secure (stored on the payment)."""
    capture_method: str = "automatic"


@dataclass(frozen=True)
class ChargeResult:
    """How a charge attempt ended, as far as the provider told us."""

    outcome: ChargeOutcome
    intent_id: str | None = None
    code: str | None = None
    detail: str = ""
    action_url: str | None = None
    """With outcome ``action``: the page where the customer authenticates."""


class ProviderClient:
    """Talks to the Stripe-compatible provider; one instance per app, thread-safe."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff: float = 0.1,
        transport: httpx.BaseTransport | None = None,
        flaw: str = "",
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._flaw = flaw

    def close(self) -> None:
        self._client.close()

    def create_and_confirm(self, request: ChargeRequest) -> ChargeResult:
        """``POST /v1/payment_intents`` with confirm=true; retried with the same key."""
        form = {
            "amount": str(request.amount),
            "currency": request.currency,
            "payment_method": request.payment_method,
            "confirm": "true",
            "payment_method_types[]": "card",
            "metadata[order_id]": request.order_id,
            "metadata[payment_id]": request.payment_id,
        }
        if request.capture_method == "manual":
            form["capture_method"] = "manual"
        if request.return_url:
            form["return_url"] = request.return_url
        return self._post_with_retries("/v1/payment_intents", form, request.provider_key)

    def confirm_intent(self, intent_id: str, request: ChargeRequest) -> ChargeResult:
        """``POST /v1/payment_intents/{id}/confirm`` with ``request``'s payment method (a new
        card for an intent still waiting for 3-D Secure); retried with the same key."""
        form = {"payment_method": request.payment_method}
        if request.return_url:
            form["return_url"] = request.return_url
        path = f"/v1/payment_intents/{intent_id}/confirm"
        return self._post_with_retries(path, form, request.provider_key)

    def retrieve(self, intent_id: str) -> ChargeResult:
        """``GET /v1/payment_intents/{id}``: what the intent is now (reads, never charges);
        outcome ``unknown`` when the provider cannot answer."""
        try:
            response = self._client.get(f"/v1/payment_intents/{intent_id}")
        except httpx.TransportError as exc:
            return ChargeResult("unknown", intent_id, detail=f"retrieve failed: {exc}")
        if response.status_code != 200:
            detail = f"retrieve answered HTTP {response.status_code}"
            return ChargeResult("unknown", intent_id, detail=detail)
        return _intent_result(_json(response))

    def _post_with_retries(self, path: str, form: dict[str, str], key: str) -> ChargeResult:
        headers = {"Idempotency-Key": key}
        if flaws.active(self._flaw, "no_provider_key"):
            # FLAW(no_provider_key): no idempotency key, so every retry below (and every
            # resumed attempt) is a brand-new charge for the provider.
            headers = {}
        return self._post_retried(path, form, headers)

    def capture(self, intent_id: str, provider_key: str) -> ChargeResult:
        """``POST /v1/payment_intents/{id}/capture``, retried with the same key.

        A capture refused because the intent is already ``succeeded`` says the money was
        taken (by an earlier request whose answer was lost): ``succeeded``, never a failure.
        """
        path = f"/v1/payment_intents/{intent_id}/capture"
        result = self._post_retried(path, {}, {"Idempotency-Key": provider_key})
        if result.outcome == "declined" and result.code == "payment_intent_unexpected_state":
            return self.retrieve(intent_id)
        return result

    def _post_retried(
        self, path: str, form: dict[str, str], headers: dict[str, str]
    ) -> ChargeResult:
        answer = self._request_retried("POST", path, form, headers)
        if isinstance(answer, str):
            return ChargeResult(
                "unknown", detail=f"provider outcome unknown after retries ({answer})"
            )
        return _charge_result(answer)

    def _request_retried(
        self, method: str, path: str, form: dict[str, str] | None, headers: dict[str, str]
    ) -> httpx.Response | str:
        """Send until the provider gives an answer that is not worth retrying (a transport
        error, 409 key in use, 429 and 5xx are retried with backoff, the same headers and so
        the same idempotency key); after the last attempt, what went wrong, in words."""
        last = "no attempt"
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._client.request(method, path, data=form, headers=headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return response
                last = f"HTTP {response.status_code}: {_error_message(response)}"
            log.warning("%s %s failed (attempt %d): %s", method, path, attempt, last)
            if attempt < self._max_attempts:
                time.sleep(self._backoff * (2 ** (attempt - 1)))
        return last

    def find_by_payment_id(self, payment_id: str) -> ChargeResult | None:
        """Search the intents tagged with ``metadata[payment_id]``; None if there is none.

        Raises ``ProviderUnavailable`` when the provider cannot answer.
        """
        return self.find_by_metadata("payment_id", payment_id)

    def find_by_metadata(self, name: str, value: str) -> ChargeResult | None:
        """Search the intents whose ``metadata[name]`` is ``value``; a succeeded one wins."""
        query = f"metadata['{name}']:'{value}'"
        try:
            response = self._client.get("/v1/payment_intents/search", params={"query": query})
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"search failed: {exc}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"search answered HTTP {response.status_code}")
        data = _json(response).get("data")
        if not isinstance(data, list):
            raise ProviderUnavailable("search answer has no data list")
        results = [_intent_result(item) for item in data if isinstance(item, dict)]
        for result in results:  # a succeeded intent wins over anything else
            if result.outcome == "succeeded":
                return result
        return results[0] if results else None


class ProviderUnavailable(RuntimeError):
    """The provider could not be asked; nothing can be concluded."""


def _charge_result(response: httpx.Response) -> ChargeResult:
    body = _json(response)
    if response.status_code == 200:
        return _intent_result(body)
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    assert isinstance(error, dict)
    intent = error.get("payment_intent")
    intent_id = intent.get("id") if isinstance(intent, dict) else None
    code = error.get("decline_code") or error.get("code") or error.get("type") or "error"
    message = str(error.get("message") or f"provider answered HTTP {response.status_code}")
    if error.get("type") == "idempotency_error":
        # Same key, different parameters: some earlier request may have charged. Never guess.
        return ChargeResult("unknown", intent_id, str(code), message)
    if response.status_code == 402 or error.get("type") == "card_error":
        return ChargeResult("declined", intent_id, str(code), message)
    if response.status_code in {400, 404}:
        # An invalid request is refused before any money moves.
        return ChargeResult("declined", intent_id, str(code), message)
    # 401/403 (our key is wrong) and anything unexpected: do not guess.
    return ChargeResult("unknown", intent_id, str(code), message)


def _intent_result(intent: dict[str, Any]) -> ChargeResult:
    intent_id = intent.get("id")
    status = intent.get("status")
    ident = intent_id if isinstance(intent_id, str) else None
    if status == "succeeded":
        return ChargeResult("succeeded", ident)
    if status == "requires_action":  # 3-D Secure: the customer has a page to complete
        action = intent.get("next_action")
        redirect = action.get("redirect_to_url") if isinstance(action, dict) else None
        url = redirect.get("url") if isinstance(redirect, dict) else None
        if isinstance(url, str) and url:
            return ChargeResult("action", ident, None, "payment intent requires_action", url)
    if status == "requires_capture":
        return ChargeResult("authorized", ident, None, "payment intent is requires_capture")
    if status in _FAILED_INTENT_STATUSES:
        error = intent.get("last_payment_error")
        code = "payment_failed"
        if isinstance(error, dict):
            code = str(error.get("decline_code") or error.get("code") or code)
        return ChargeResult("declined", ident, code, f"payment intent is {status}")
    return ChargeResult("unknown", ident, None, f"payment intent is {status}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_message(response: httpx.Response) -> str:
    error = _json(response).get("error")
    if isinstance(error, dict):
        return str(error.get("code") or error.get("message") or "")
    return ""
