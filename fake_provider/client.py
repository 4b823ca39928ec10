"""A typed, synchronous client for the fake's ``/_fake`` control API."""

from __future__ import annotations

import ssl
from typing import Any, cast

import httpx

from fake_provider.types import JSON, Delivery, FaultRecord, LedgerEntry, RequestRecord, Summary


class FakeProviderError(RuntimeError):
    """The control API refused a request; the message carries its explanation."""


class FakeProviderClient:
    """``FakeProviderClient("http://127.0.0.1:12111").summary()["over_charged"]``."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, verify: ssl.SSLContext | bool = True
    ) -> None:
        """``verify``: as httpx takes it; a context shared by many clients saves each one
        from loading the CA bundle again."""
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise FakeProviderError(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json()

    # -- oracle --------------------------------------------------------------------
    def ledger(
        self,
        *,
        field: str | None = None,
        value: str | None = None,
        account: str | None = None,
        kind: str | None = None,
        after_seq: int | None = None,
    ) -> list[LedgerEntry]:
        """Ledger lines in ``seq`` order; ``after_seq`` keeps those written after that cursor."""
        params = {"field": field, "value": value, "account": account, "kind": kind,
                  "after_seq": after_seq}  # fmt: skip
        query = {k: v for k, v in params.items() if v is not None}
        return cast(list[LedgerEntry], self._call("GET", "/_fake/ledger", params=query)["data"])

    def ledger_cursor(self) -> int:
        """The ``seq`` of the last ledger line (0 if none): pass it later as ``after_seq``."""
        return int(self._call("GET", "/_fake/ledger/cursor")["seq"])

    def charges(self, order_id: str | None = None, account: str | None = None) -> list[LedgerEntry]:
        """Successful charges, optionally only those for one ``order_id``."""
        field = "order_id" if order_id is not None else None
        return self.ledger(field=field, value=order_id, account=account, kind="charge")

    def summary(self, field: str = "order_id", account: str | None = None) -> Summary:
        query = {"field": field, **({"account": account} if account else {})}
        return cast(Summary, self._call("GET", "/_fake/summary", params=query))

    def requests(self, *, after_seq: int | None = None) -> list[RequestRecord]:
        """The request log in the order requests ended; ``after_seq`` as for :meth:`ledger`."""
        query = {} if after_seq is None else {"after_seq": after_seq}
        return cast(list[RequestRecord], self._call("GET", "/_fake/requests", params=query)["data"])

    def requests_cursor(self) -> int:
        """The ``seq`` of the last logged request (0 if none)."""
        return int(self._call("GET", "/_fake/requests/cursor")["seq"])

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def finish_3ds(self, intent_id: str, outcome: str = "complete") -> JSON:
        """Complete (``"complete"``) or fail (``"fail"``) an intent's 3-D Secure step.

        Answers ``intent``, ``changed`` (false when it no longer waited for authentication),
        ``redirect_status`` and ``redirect_url`` (the confirm's ``return_url`` with Stripe's
        query parameters, or null).
        """
        return cast(JSON, self._call("POST", f"/_fake/3ds/{intent_id}", json={"outcome": outcome}))

    def healthy(self) -> bool:
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    # -- clock ---------------------------------------------------------------------
    def clock(self) -> JSON:
        """``{"now": unix time as the fake sees it, "offset_s": seconds ahead of wall time}``."""
        return cast(JSON, self._call("GET", "/_fake/clock"))

    def advance_clock(self, seconds: float) -> JSON:
        """Move the fake's clock forward (key expiry, search lag); answers as :meth:`clock`."""
        return cast(JSON, self._call("POST", "/_fake/clock", json={"advance_s": seconds}))

    # -- faults --------------------------------------------------------------------
    def set_fault(
        self,
        mode: str,
        endpoint: str = "*",
        *,
        status: int | None = None,
        delay_ms: int | None = None,
        count: int | None = None,
        probability: float | None = None,
        seed: int | None = None,
        metadata: dict[str, list[str]] | None = None,
    ) -> FaultRecord:
        """Arm a fault (see ``fake_provider.faults``); ``metadata`` scopes it to the intents
        whose metadata holds one of the values given for a key."""
        spec: JSON = {"endpoint": endpoint, "mode": mode, "status": status, "delay_ms": delay_ms,
                      "count": count, "probability": probability, "seed": seed,
                      "metadata": metadata}  # fmt: skip
        body = {k: v for k, v in spec.items() if v is not None}
        return cast(FaultRecord, self._call("POST", "/_fake/faults", json=body))

    def faults(self) -> list[FaultRecord]:
        """Every armed fault with ``fired`` and its ``hits`` (request and effect of each)."""
        return cast(list[FaultRecord], self._call("GET", "/_fake/faults")["data"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/_fake/faults")

    def remove_fault(self, fault_id: str) -> FaultRecord:
        """Take one fault away; answers its record as it ended."""
        return cast(FaultRecord, self._call("DELETE", f"/_fake/faults/{fault_id}"))

    # -- webhooks ------------------------------------------------------------------
    def register_webhook_endpoint(
        self,
        url: str,
        secret: str | None = None,
        events: list[str] | None = None,
        *,
        duplicate: int = 0,
        shuffle: bool = False,
        delay_ms: int = 0,
        max_attempts: int = 3,
        timeout_ms: int = 5000,
        account: str | None = None,
    ) -> JSON:
        """Register a receiver; the answer includes its ``id`` and ``secret`` (generated if
        not given). With ``account`` it only receives that API key's events."""
        body: JSON = {"url": url, "events": events or ["*"], "duplicate": duplicate,
                      "shuffle": shuffle, "delay_ms": delay_ms, "max_attempts": max_attempts,
                      "timeout_ms": timeout_ms}  # fmt: skip
        if secret is not None:
            body["secret"] = secret
        if account is not None:
            body["account"] = account
        return cast(JSON, self._call("POST", "/_fake/webhooks/endpoints", json=body))

    def webhook_endpoints(self) -> list[JSON]:
        return cast(list[JSON], self._call("GET", "/_fake/webhooks/endpoints")["data"])

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        """Remove a receiver (and drop deliveries still queued for it)."""
        self._call("DELETE", f"/_fake/webhooks/endpoints/{endpoint_id}")

    def resend_event(self, event_id: str) -> None:
        self._call("POST", f"/_fake/webhooks/resend/{event_id}")

    def events(self) -> list[JSON]:
        return cast(list[JSON], self._call("GET", "/_fake/webhooks/events")["data"])

    def deliveries(self) -> list[Delivery]:
        return cast(list[Delivery], self._call("GET", "/_fake/webhooks/deliveries")["data"])

    def flush_webhooks(self, timeout: float = 30.0) -> bool:
        """Block until every queued webhook delivery is done; False if it timed out."""
        response = self._http.post(
            "/_fake/webhooks/flush", params={"timeout": timeout}, timeout=timeout + 5
        )
        return response.status_code == 200

    def hold_webhooks(self, events: list[str]) -> JSON:
        """Keep events of these types out of delivery until :meth:`release_webhooks` (they
        are still recorded in :meth:`events`). Answers ``{"events": held types, "held":
        ids of the events kept back, one per endpoint that wants one}``."""
        return cast(JSON, self._call("POST", "/_fake/webhooks/hold", json={"events": events}))

    def webhook_hold(self) -> JSON:
        """The current hold, as :meth:`hold_webhooks` answers it."""
        return cast(JSON, self._call("GET", "/_fake/webhooks/hold"))

    def release_webhooks(self) -> int:
        """End the hold and queue what it kept, in order; answers how many were released."""
        return int(self._call("DELETE", "/_fake/webhooks/hold")["released"])

    # -- hosted checkout -----------------------------------------------------------
    def pay_checkout_session(self, session_id: str, payment_method: str = "pm_card_visa") -> JSON:
        """Pay a Checkout Session as a customer on its hosted page would, without a browser.

        The answer has ``outcome`` (``paid``, ``already_paid`` or ``declined``), ``message``
        (why a card was declined), ``redirect_url`` (``success_url`` with the session id)
        and ``session``. An expired or unknown session raises :class:`FakeProviderError`.
        """
        path = f"/_fake/checkout/sessions/{session_id}/pay"
        return cast(JSON, self._call("POST", path, json={"payment_method": payment_method}))
