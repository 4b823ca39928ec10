"""A one-minute demonstration: a retried payment is charged exactly once.

Starts the fake on a free port (uvicorn in a thread), pays with an
Idempotency-Key, sends the very same request again as a client would after a
timeout, and shows from the fake's ledger that the customer was charged once.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from fake_provider.app import ProviderConfig, create_app
from fake_provider.client import FakeProviderClient
from fake_provider.server import DEFAULT_KEY


class _ThreadedServer:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(ProviderConfig()), host="127.0.0.1", port=self.port, log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> _ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def run_demo(console: Console | None = None) -> int:
    """Run the demonstration; 0 when the ledger shows exactly one charge."""
    out = console or Console()
    order_id = f"order_{uuid.uuid4().hex[:8]}"
    key = f"checkout-{order_id}"
    form = {"amount": "4200", "currency": "usd", "metadata[order_id]": order_id,
            "payment_method": "pm_card_visa", "confirm": "true"}  # fmt: skip
    with _ThreadedServer() as server, httpx.Client(base_url=server.url) as http:
        headers = {"Authorization": f"Bearer {DEFAULT_KEY}", "Idempotency-Key": key}
        table = Table(title=f"Paying for {order_id} twice with one Idempotency-Key")
        for column in ("attempt", "status", "intent", "Idempotent-Replayed"):
            table.add_column(column)
        for attempt in (1, 2):
            response = http.post("/v1/payment_intents", data=form, headers=headers)
            body = response.json()
            table.add_row(
                str(attempt),
                f"{response.status_code} {body.get('status', body.get('error', {}).get('code'))}",
                str(body.get("id", "-")),
                response.headers.get("Idempotent-Replayed", "false"),
            )
        out.print(table)
        with FakeProviderClient(server.url) as fake:
            summary = fake.summary()
        charges = summary["keys"].get(order_id, {"charges": 0})["charges"]
        verdict = "[green]charged exactly once[/]" if charges == 1 else "[red]WRONG[/]"
        out.print(f"Ledger: {charges} charge(s) for {order_id}: {verdict}")
        return 0 if charges == 1 and not summary["over_charged"] else 1


if __name__ == "__main__":
    raise SystemExit(run_demo())
