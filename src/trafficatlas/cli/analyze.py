"""`trafficatlas analyze`: decode, classify, enrich and rank captures offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from trafficatlas.cli.common import geoip_engine, settings_from
from trafficatlas.cli.render import rwstats_table


def register(app: typer.Typer) -> None:
    """Add the analyze command to ``app``."""

    @app.command("analyze")
    def analyze_cmd(
        paths: Annotated[
            list[Path], typer.Argument(help="pcap/pcapng files, .bin datagrams, folders.")
        ],
        by: Annotated[
            str,
            typer.Option(
                "--by",
                help="Dimensions, comma-separated (country, asn, city, src_ip, dst_ip, sport, dport, proto, exporter, direction, ip_version, src_country, dst_country, src_asn, dst_asn).",
            ),
        ] = "country",
        top: Annotated[
            int | None,
            typer.Option("--top", help="Show the top N rows (the rest is summed as 'other')."),
        ] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
        html: Annotated[
            Path | None,
            typer.Option("--html", help="Write a self-contained HTML report with a world map."),
        ] = None,
        geoip_db: Annotated[
            list[Path] | None,
            typer.Option("--geoip-db", help="Extra .mmdb/.csv database (repeatable)."),
        ] = None,
        config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    ) -> None:
        """Rank the traffic in captures or exported datagrams (rwstats-style), offline."""
        from trafficatlas.analyze.offline import (
            analyze,
            country_label,
            expand_inputs,
            parse_dims,
            read_inputs,
            resolve_ips,
        )

        dims = parse_dims(by)
        settings = settings_from(config, geoip_db)
        files = expand_inputs(paths)
        geo = geoip_engine(settings)
        show = not as_json and sys.stderr.isatty()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} files"),
            transient=True,
            disable=not show,
        ) as progress:
            task = progress.add_task("decoding", total=len(files))

            def step(path: Path) -> None:
                progress.update(task, advance=1, description=f"decoding {path.name}")

            flows, skipped, exporters = read_inputs(files, settings.collector.decoder, step)
        result = analyze(flows, dims, geo, settings.classify, exporters, limit=top)
        resolve_ips(result, flows, dims)
        result.skipped = skipped
        result.inputs = [str(f) for f in files]
        if html is not None:
            from trafficatlas.analyze.report import write_html
            from trafficatlas.enrich.bundled import attribution

            by_country = (
                result
                if "country" in dims
                else analyze(flows, ["country"], geo, settings.classify, exporters, limit=None)
            )
            write_html(
                html, result, by_country, attribution() if settings.geoip.use_bundled else ""
            )
        if as_json:
            sys.stdout.write(json.dumps(result.as_json()) + "\n")
            return
        rows = list(result.rows)
        if result.other is not None:
            rows.append(
                {
                    "key": {
                        d: f"other ({result.other['rows']} rows)" if i == 0 else ""
                        for i, d in enumerate(dims)
                    },
                    "bytes": result.other["bytes"],
                    "packets": result.other["packets"],
                    "flows": result.other["flows"],
                    "percent": result.other["percent"],
                    "cumulative_percent": 100.0,
                }
            )
        for row in rows:
            row["key"] = {
                d: country_label(v) if d.endswith("country") and v and len(str(v)) == 2 else v
                for d, v in row["key"].items()
            }
        title = f"traffic by {', '.join(dims)} — {len(files)} file(s)"
        Console().print(rwstats_table(title, dims, rows, result.totals))
        if skipped:
            typer.echo(
                "skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())), err=True
            )
        if html is not None:
            typer.echo(f"wrote {html}", err=True)
