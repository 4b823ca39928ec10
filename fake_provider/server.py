"""Serve the fake on a port with uvicorn: ``python -m fake_provider.server``."""

from __future__ import annotations

import argparse
import socket

import uvicorn

from fake_provider._provider import DEFAULT_PROCESSING_MS, parse_processing_ms
from fake_provider.app import ProviderConfig, create_app
from fake_provider.webhooks import DEFAULT_SECRET

DEFAULT_KEY = "sk_test_nodouble"


def banner(url: str, state_path: str | None, webhook_secret: str = DEFAULT_SECRET) -> str:
    state = f"SQLite file {state_path}" if state_path else "memory (lost on exit)"
    return "\n".join(
        [
            f"Fake Stripe provider listening on {url}",
            f"  API key:        {DEFAULT_KEY}  (any sk_test_... key: each is an account)",
            f"  stripe SDK:     stripe.api_base = {url!r}",
            f"  webhook secret: {webhook_secret}  (signs deliveries to endpoints registered "
            f"without their own; register with POST {url}/_fake/webhooks/endpoints "
            '{"url": "http://127.0.0.1:8000/webhooks"})',
            f"  control API:    {url}/_fake/summary, {url}/_fake/ledger, {url}/_fake/faults",
            f"  state:          {state}",
            f"  clock:          GET {url}/_fake/clock; move it forward (key expiry, search "
            'lag) with POST {"advance_s": 86400}',
        ]
    )


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so port 0 resolves to the real port before printing."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(
    host: str = "127.0.0.1",
    port: int = 12111,
    state_path: str | None = None,
    key_ttl: float = 86400.0,
    processing_ms: int = DEFAULT_PROCESSING_MS,
) -> None:
    """Print where the fake is and how to use it, then serve until interrupted."""
    config = ProviderConfig(state_path=state_path, key_ttl=key_ttl, processing_ms=processing_ms)
    app = create_app(config)
    sock = bind(host, port)
    real_host, real_port = sock.getsockname()[:2]
    shown = f"[{real_host}]" if ":" in real_host else real_host
    print(banner(f"http://{shown}:{real_port}", state_path, config.webhook_secret), flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Stripe-compatible fake provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="TCP port (0: any free port)")
    parser.add_argument("--state", default=None, help="SQLite file to keep state across restarts")
    parser.add_argument(
        "--key-ttl", type=float, default=86400.0, help="seconds an idempotency key is remembered"
    )
    parser.add_argument(
        "--processing-ms",
        default=str(DEFAULT_PROCESSING_MS),
        help="milliseconds a call that moves money takes, its idempotency key in use meanwhile",
    )
    args = parser.parse_args(argv)
    if not 0 < args.key_ttl < float("inf"):
        parser.error(f"--key-ttl must be a number of seconds above 0, got {args.key_ttl!r}")
    try:
        processing_ms = parse_processing_ms(args.processing_ms, "--processing-ms")
    except ValueError as exc:
        parser.error(str(exc))
    run(args.host, args.port, args.state, args.key_ttl, processing_ms)


if __name__ == "__main__":
    main()
