"""`trafficatlas geoip info|update`: the databases in use, and keeping them fresh."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from trafficatlas.cli.common import geoip_engine, settings_from

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")]


def build() -> typer.Typer:
    """The `geoip` command group."""
    app = typer.Typer(
        help="GeoIP/ASN databases: what is loaded, and updates.", no_args_is_help=True
    )

    @app.command("info")
    def info(
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
        geoip_db: Annotated[
            list[Path] | None, typer.Option("--geoip-db", help="Extra database (repeatable).")
        ] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Each database: type, schema, build date, networks, license; and the attribution."""
        from trafficatlas.enrich.bundled import attribution

        settings = settings_from(config, geoip_db)
        geo = geoip_engine(settings)
        dbs = geo.databases()
        if as_json:
            payload = {
                "databases": [
                    {
                        "name": d.name,
                        "path": d.path,
                        "kind": d.kind,
                        "roles": list(d.roles),
                        "schema": d.schema,
                        "database_type": d.database_type,
                        "build_date": _date(d.build_epoch),
                        "networks": d.networks,
                        "size": d.size,
                        "license": d.license,
                        "source": d.source,
                    }
                    for d in dbs
                ],
                "attribution": attribution(),
            }
            typer.echo(json.dumps(payload, indent=2))
            return
        table = Table(title="GeoIP databases (first match wins, top to bottom)")
        for col in ("name", "provides", "schema", "built", "networks", "license"):
            table.add_column(col, overflow="fold")
        for d in dbs:
            table.add_row(
                d.name,
                ",".join(d.roles),
                d.schema,
                _date(d.build_epoch) or "-",
                f"{d.networks:,}",
                d.license,
            )
        console = Console()
        console.print(table)
        for d in dbs:
            typer.echo(f"{d.name}: {d.database_type}; {d.path or d.source}")
        typer.echo(attribution())

    @app.command("update")
    def update(
        only: Annotated[
            list[str] | None, typer.Option("--only", help="Update only these sources (by name).")
        ] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Download configured sources, verify each, and swap it in atomically."""
        from trafficatlas.enrich.update import update_databases

        settings = settings_from(config)
        if not settings.geoip.sources:
            typer.echo(
                "no [[geoip.sources]] configured: see conf/trafficatlas.example.toml", err=True
            )
            raise typer.Exit(1)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            transient=True,
        ) as progress:
            task = progress.add_task("downloading", total=None)

            def on_progress(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            results = update_databases(settings, only=only, progress=on_progress)
        failed = 0
        for r in results:
            failed += r.status == "failed"
            typer.echo(f"{r.name}: {r.status}{' - ' + r.message if r.message else ''}")
        if failed:
            raise typer.Exit(1)

    return app


def _date(epoch: int | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d")
