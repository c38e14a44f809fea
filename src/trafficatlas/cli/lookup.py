"""`trafficatlas lookup`: country, city, coordinates and ASN of addresses, offline."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from trafficatlas.cli.common import geoip_engine, settings_from
from trafficatlas.enrich.display import format_row_text

BATCH = 100_000


def register(app: typer.Typer) -> None:
    """Add the lookup command to ``app``."""

    @app.command("lookup")
    def lookup(
        ips: Annotated[
            list[str] | None, typer.Argument(help="Addresses; read from stdin when none given.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
        geoip_db: Annotated[
            list[Path] | None,
            typer.Option("--geoip-db", help="Extra .mmdb/.csv database (repeatable)."),
        ] = None,
        config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    ) -> None:
        """Look up IP addresses in the GeoIP/ASN databases (bundled data works offline)."""
        settings = settings_from(config, geoip_db)
        geo = geoip_engine(settings)
        bad = 0
        for chunk in _chunks(ips):
            for row in geo.lookup_ips(chunk):
                bad += "error" in row
                if as_json:
                    sys.stdout.write(json.dumps(_public_keys(row), ensure_ascii=False) + "\n")
                else:
                    sys.stdout.write(format_row_text(row) + "\n")
        sys.stdout.flush()
        if bad:
            raise typer.Exit(1)


def _public_keys(row: dict[str, object]) -> dict[str, object]:
    if "error" in row:
        return row
    keys = (
        "ip",
        "country",
        "country_name",
        "city",
        "latitude",
        "longitude",
        "asn",
        "as_org",
        "network",
        "label",
        "region",
        "flag",
    )
    return {k: row.get(k) for k in keys}


def _chunks(ips: list[str] | None) -> Iterator[list[str]]:
    if ips:
        for i in range(0, len(ips), BATCH):
            yield ips[i : i + BATCH]
        return
    chunk: list[str] = []
    for line in sys.stdin:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        chunk.append(text)
        if len(chunk) >= BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
