"""`trafficatlas serve` (the daemon) and `trafficatlas top` (rwstats-style table from the store)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from trafficatlas.cli.render import rwstats_table
from trafficatlas.errors import ConfigError

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")]


def register(app: typer.Typer) -> None:
    """Add serve and top to ``app``."""

    @app.command("serve")
    def serve(
        config: ConfigOpt = None,
        host: Annotated[
            str | None, typer.Option(help="Listen address (default from config).")
        ] = None,
        port: Annotated[int | None, typer.Option(help="Listen port (default from config).")] = None,
        role: Annotated[
            Literal["all", "collector", "api"] | None,
            typer.Option(
                help="all: one process; collector: sources + pipeline into the shared store "
                "(serves only health and metrics); api: API and dashboard over the shared "
                "store. Default from config (role).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Run the pipeline, the store and the HTTP server until SIGINT/SIGTERM."""
        from trafficatlas.api.server import install_stop_signals, serve_forever, stopping
        from trafficatlas.logging import configure_logging
        from trafficatlas.runtime import Runtime
        from trafficatlas.settings import load_settings

        settings = load_settings(config)
        if role is not None:  # the command line beats the file and the environment
            settings = settings.model_copy(update={"role": role})
        configure_logging(settings.log.level, settings.log.format)
        install_stop_signals()
        runtime = Runtime(settings)
        try:
            runtime.start()
            serve_forever(
                runtime,
                host or settings.http.host,
                settings.http.port if port is None else port,
                settings.socket_path(),
            )
        except KeyboardInterrupt:
            pass  # Ctrl-C before the server was up: stop what started
        finally:
            stopping()
            runtime.stop()

    @app.command("top")
    def top_cmd(
        by: Annotated[str, typer.Option("--by", help="Dimensions, comma-separated.")] = "country",
        since: Annotated[str, typer.Option(help="Start: 24h, 7d, ISO 8601 or epoch.")] = "24h",
        until: Annotated[str | None, typer.Option(help="End (default now).")] = None,
        limit: Annotated[
            int | None, typer.Option("--limit", "--top", help="Rows shown; the rest is 'other'.")
        ] = 20,
        peer: Annotated[list[str] | None, typer.Option(help="Only this peer (repeatable).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="The query result as JSON.")] = False,
        config: ConfigOpt = None,
    ) -> None:
        """Top talkers from the store: through the running server, or from the file directly."""
        from trafficatlas.cli.common import settings_from
        from trafficatlas.runtime import socket_usable

        settings = settings_from(config)
        dims = [d.strip() for d in by.split(",") if d.strip()]
        sock = settings.socket_path()
        if socket_usable(sock):
            result = _top_via_socket(sock, dims, since, until, limit, peer or [])
        else:
            result = _top_from_file(settings, dims, since, until, limit, peer or [])
        if as_json:
            sys.stdout.write(json.dumps(result) + "\n")
            return
        rows = [_row(r) for r in result["rows"]]
        if result.get("other"):
            other = _row(result["other"])
            other["key"] = {
                d: (f"other ({result['other_groups']} groups)" if i == 0 else "")
                for i, d in enumerate(dims)
            }
            rows.append(other)
        t = result["totals"]
        title = f"traffic by {', '.join(dims)} since {since}"
        Console().print(rwstats_table(title, dims, rows, t))


def _row(r: dict[str, Any]) -> dict[str, Any]:
    key = dict(r["key"])
    attrs = r.get("attrs") or {}
    for k, v in attrs.items():  # e.g. the AS organization beside the number
        if k.endswith("_name") or k == "as_org":
            base = "asn" if k == "as_org" else k.removesuffix("_name")
            if base in key and v:
                key[base] = f"{key[base]} {v}"
    return {
        "key": key,
        "bytes": r["bytes"],
        "packets": r["packets"],
        "flows": r["flows"],
        "percent": r["percent"],
        "cumulative_percent": r["cumulative_percent"],
    }


def _top_via_socket(
    sock: Path, dims: list[str], since: str, until: str | None, limit: int | None, peers: list[str]
) -> dict[str, Any]:
    import httpx

    params: list[tuple[str, str | int | float | bool | None]] = [("by", d) for d in dims]
    params.append(("since", since))
    if until:
        params.append(("until", until))
    if limit is not None:
        params.append(("limit", limit))
    params += [("peer", p) for p in peers]
    transport = httpx.HTTPTransport(uds=str(sock))
    with httpx.Client(transport=transport, base_url="http://trafficatlas", timeout=60) as client:
        resp = client.get("/api/local/top", params=params)
    if resp.status_code != 200:
        detail = (
            resp.json().get("detail", resp.text)
            if resp.headers.get("content-type", "").startswith("application/json")
            else resp.text
        )
        raise ConfigError(f"server refused the query: {detail}")
    out: dict[str, Any] = resp.json()
    return out


def _top_from_file(
    settings: Any,
    dims: list[str],
    since: str,
    until: str | None,
    limit: int | None,
    peers: list[str],
) -> dict[str, Any]:
    from trafficatlas.query import Filters, top
    from trafficatlas.store import open_store
    from trafficatlas.timeparse import parse_time

    path = settings.store.resolved_path(settings.data_dir)
    if not path.exists():
        raise ConfigError(f"no store at {path} (start `trafficatlas serve` first)")
    store = open_store(settings.store, settings.data_dir)
    try:
        result = top(store, dims, Filters(peer=peers), limit, parse_time(since), parse_time(until))
    finally:
        store.close()
    out: dict[str, Any] = result.model_dump(mode="json")
    return out
