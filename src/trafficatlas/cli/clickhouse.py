"""`trafficatlas clickhouse ddl`: the schema a ClickHouse store creates, for review or pre-creation.

Collectors create the schema themselves on first start; operators who manage DDL separately (a
cluster with restricted users, a change review) print it here from the same code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from trafficatlas.errors import ConfigError

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")]


def build() -> typer.Typer:
    """The `clickhouse` command group."""
    app = typer.Typer(help="The ClickHouse store (store.engine = 'clickhouse').")

    @app.command("ddl")
    def ddl(
        server_version: Annotated[
            str,
            typer.Option(help="Server version the DDL is for (LowCardinality and TTL from 20.1)."),
        ] = "18.16",
        cluster: Annotated[
            str | None, typer.Option(help="ON CLUSTER name (default: store.clickhouse.cluster).")
        ] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Print the CREATE statements of the current schema version."""
        from trafficatlas.settings import load_settings
        from trafficatlas.store.clickhouse.schema import (
            SCHEMA_VERSION,
            Features,
            Layout,
            SchemaBuilder,
        )
        from trafficatlas.store.clickhouse.versions import DESCRIPTIONS

        m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\S*)?", server_version.strip())
        if m is None:
            raise ConfigError(f"--server-version: expected MAJOR.MINOR, got {server_version!r}")
        s = load_settings(config).store
        name = cluster if cluster is not None else s.clickhouse.cluster
        if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"--cluster: not a valid cluster name: {name!r}")
        builder = SchemaBuilder(
            Layout(s.clickhouse.database, name or None),
            Features((int(m.group(1)), int(m.group(2)))),
            s,
        )
        on = f" ON CLUSTER {name}" if name else ""
        typer.echo(f"CREATE DATABASE IF NOT EXISTS {s.clickhouse.database}{on};\n")
        typer.echo(f"USE {s.clickhouse.database};\n")
        for stmt in [*builder.version_table(), *builder.statements()]:
            typer.echo(stmt + ";\n")
        description = DESCRIPTIONS[SCHEMA_VERSION].replace("'", "''")
        typer.echo(
            "INSERT INTO schema_version (version, description, applied_at) "
            f"SELECT {SCHEMA_VERSION}, '{description}', now();"
        )

    return app
