"""Serve the fake on a port with uvicorn: ``python -m fake_provider.server``."""

from __future__ import annotations

import argparse

import uvicorn

from fake_provider.app import ProviderConfig, create_app

DEFAULT_KEY = "sk_test_nodouble"
EXAMPLE_SECRET = "whsec_nodouble_example"


def banner(url: str, state_path: str | None) -> str:
    state = f"SQLite file {state_path}" if state_path else "memory (lost on exit)"
    return "\n".join(
        [
            f"Fake Stripe provider listening on {url}",
            f"  API key:        {DEFAULT_KEY}  (any sk_test_... key: each is an account)",
            f"  stripe SDK:     stripe.api_base = {url!r}",
            f"  webhook secret: register one with POST {url}/_fake/webhooks/endpoints, e.g. "
            f'{{"url": "http://127.0.0.1:8000/webhooks", "secret": "{EXAMPLE_SECRET}"}}',
            f"  control API:    {url}/_fake/summary, {url}/_fake/ledger, {url}/_fake/faults",
            f"  state:          {state}",
        ]
    )


def run(host: str = "127.0.0.1", port: int = 12111, state_path: str | None = None) -> None:
    """Print where the fake is and how to use it, then serve until interrupted."""
    app = create_app(ProviderConfig(state_path=state_path))
    print(banner(f"http://{host}:{port}", state_path), flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Stripe-compatible fake provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--state", default=None, help="SQLite file to keep state across restarts")
    args = parser.parse_args(argv)
    run(args.host, args.port, args.state)


if __name__ == "__main__":
    main()
