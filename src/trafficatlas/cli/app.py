"""Entry point of the `trafficatlas` command: builds the typer app and renders user errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from trafficatlas import __version__
from trafficatlas.errors import TrafficAtlasError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $TRAFFICATLAS_CONFIG, else built-in defaults).",
        show_default=False,
    ),
]


def build_app() -> typer.Typer:
    """Create the CLI with every command group registered explicitly."""
    from trafficatlas.cli import analyze, clickhouse, demo, geoip, lookup, serve, users

    app = typer.Typer(
        name="trafficatlas",
        help="See where your network traffic goes.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.command("version")
    def version() -> None:
        """Print the version."""
        typer.echo(__version__)

    lookup.register(app)
    analyze.register(app)
    serve.register(app)
    demo.register(app)
    app.add_typer(geoip.build(), name="geoip")
    app.add_typer(users.build_user(), name="user")
    app.add_typer(users.build_token(), name="token")
    app.add_typer(clickhouse.build(), name="clickhouse")
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user-caused errors print one clear line and exit with status 2."""
    app = build_app()
    try:
        # standalone mode: typer renders usage errors and turns Exit into the process status
        app(args=argv, prog_name="trafficatlas")
    except TrafficAtlasError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
