"""Provider faults: a nemesis acting on the fake payment provider.

The fake provider (``fake_provider``) takes faults through its control API,
``POST /_fake/faults`` and ``DELETE /_fake/faults`` (see docs/contracts.md). Modes:

- ``delay``: answer late (``delay_ms``);
- ``error_before``: answer ``status`` without doing anything;
- ``error_after``: do the work (charge!), then answer ``status`` anyway;
- ``drop_after``: do the work, then drop the connection without an answer;
- ``hang_after``: do the work, then hold the answer until the client gives up (closes the
  connection) or ``delay_ms`` passes;
- ``in_flight``: keep the operation "processing" so concurrent calls see it in progress;
- ``await_webhook`` (only for payments on the provider's own pages, endpoint ``"hosted"``):
  pay, then hold the redirect back to the shop until the payment's webhooks were delivered.

``error_after``, ``drop_after`` and ``hang_after`` are the faults that make a checkout
believe a charge failed when it happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from fake_provider.types import FAULT_MODES
from harness._tls import tls_context
from harness.faults._record import NEMESIS, record
from harness.history import History, Op

MODES = frozenset(FAULT_MODES)


class FaultError(RuntimeError):
    """The provider refused or could not take a fault."""


class ProviderFaults:
    """Installs and clears faults on a fake provider at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        history: History | None = None,
        *,
        process: str = NEMESIS,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.history = history
        self.process = process
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout, verify=tls_context())

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ProviderFaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(
        self,
        endpoint: str,
        mode: str,
        *,
        status: int | None = None,
        delay_ms: int | None = None,
        count: int | None = None,
        probability: float | None = None,
        seed: int | None = None,
        metadata: dict[str, list[str]] | None = None,
    ) -> Op | None:
        """Install one fault; records ``start_fault``.

        ``endpoint`` is ``"METHOD /path"`` (``*`` matches one path segment), ``"money"``
        (every call that can move money) or ``"*"``;
        ``count`` is how many calls it hits; with neither ``count`` nor ``probability`` the
        provider fires it once (``search_lag``: on every search it hides intents from, until
        stopped). ``metadata`` scopes it to the intents whose metadata holds one of the
        values given for a key (``{"order_id": ["ord_1"]}``): calls about other intents pass
        untouched.
        """
        if mode not in MODES:
            raise ValueError(
                f"unknown provider fault mode {mode!r}; expected one of {sorted(MODES)}"
            )
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, not {probability}")
        if count is not None and count < 1:
            raise ValueError(f"count must be at least 1 (or None for unlimited), not {count}")
        spec: dict[str, Any] = {"endpoint": endpoint, "mode": mode}
        optional = {
            "status": status,
            "delay_ms": delay_ms,
            "count": count,
            "probability": probability,
            "seed": seed,
            "metadata": metadata,
        }
        spec.update({k: v for k, v in optional.items() if v is not None})
        value = {"fault": "provider", **spec}
        return record(
            self.history, self.process, "start_fault", value, lambda: self._send("POST", spec)
        )

    def stop(self) -> Op | None:
        """Remove every fault; records ``stop_fault``."""
        value = {"fault": "provider", "mode": "all"}
        return record(self.history, self.process, "stop_fault", value, lambda: self._send("DELETE"))

    def remove(self, fault_ids: list[str]) -> Op | None:
        """Remove the faults ``fault_ids`` and no other (those already gone are skipped);
        records ``stop_fault``."""
        value = {"fault": "provider", "ids": list(fault_ids)}

        def send() -> dict[str, Any]:
            removed = []
            for fault_id in fault_ids:
                gone = self._send("DELETE", path=f"/_fake/faults/{fault_id}", missing_ok=True)
                if isinstance(gone["reply"], dict):
                    removed.append(gone["reply"].get("id"))
            return {"removed": removed}

        return record(self.history, self.process, "stop_fault", value, send)

    def active(self) -> list[dict[str, Any]]:
        """The faults the provider currently holds."""
        data = self._send("GET").get("reply", {})
        items = data.get("data", []) if isinstance(data, dict) else data
        return list(items) if isinstance(items, list) else []

    @contextmanager
    def fault(self, endpoint: str, mode: str, **options: Any) -> Iterator[None]:
        """``with faults.fault("POST /v1/payment_intents", "error_after", status=500): ...``"""
        self.start(endpoint, mode, **options)
        try:
            yield
        finally:
            self.stop()

    def _send(
        self,
        method: str,
        body: dict[str, Any] | None = None,
        *,
        path: str = "/_fake/faults",
        missing_ok: bool = False,
    ) -> dict[str, Any]:
        try:
            response = self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise FaultError(f"fake provider at {self.base_url} unreachable: {exc}") from exc
        if response.status_code == 404 and missing_ok:
            return {"control_status": 404, "reply": None}
        if response.status_code >= 400:
            raise FaultError(
                f"fake provider refused {method} {path} {body or ''}: "
                f"HTTP {response.status_code} {response.text[:500]}"
            )
        try:
            parsed = response.json()
        except ValueError:
            parsed = response.text
        # Not "status"/"response": those keys mean "the target answered" to checkers.
        return {"control_status": response.status_code, "reply": parsed}
