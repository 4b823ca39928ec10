"""The ``nodouble`` command line.

Each subcommand is a thin shell over a module of its package, imported lazily so that
``nodouble --help`` stays fast and a broken optional piece cannot stop the others.
Exit codes: 0 success, 1 a check failed, 2 bad usage (typer's own convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="nodouble",
    help="Prove that a checkout never charges a customer twice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def provider(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 12111,
    state: Annotated[
        Path | None,
        typer.Option(help="SQLite file that keeps the provider's state across restarts."),
    ] = None,
) -> None:
    """Run the fake Stripe-compatible payment provider."""
    from fake_provider.server import run

    run(host, port, str(state) if state else None)


@app.command()
def demo() -> None:
    """Show the whole idea in one minute on the embedded defaults."""
    from fake_provider.demo import run_demo

    raise typer.Exit(run_demo())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
