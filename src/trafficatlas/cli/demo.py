"""`trafficatlas demo`: a real pipeline on loopback with synthetic NetFlow, offline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from trafficatlas.cli.render import human_bytes

if TYPE_CHECKING:
    from trafficatlas.runtime import Runtime


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``."""

    @app.command("demo")
    def demo(
        duration: Annotated[
            float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
        ] = None,
        port: Annotated[
            int, typer.Option(help="HTTP port on 127.0.0.1 (0 = any free port).")
        ] = 8650,
        history_days: Annotated[float, typer.Option(help="Days of history to prefill.")] = 3.0,
        rate: Annotated[
            float, typer.Option(help="Live flows per second (before day/night shape).")
        ] = 40.0,
        data_dir: Annotated[
            Path | None,
            typer.Option(
                help="Keep the demo's data here (default: a temporary folder, removed at exit)."
            ),
        ] = None,
    ) -> None:
        """Start the real server and pipeline with the bundled databases, fed by a NetFlow generator."""
        from trafficatlas.auth.service import ADMIN_PASSWORD_ENV

        _run_demo(
            duration=duration,
            port=port,
            history_days=history_days,
            rate=rate,
            data_dir=data_dir,
            password=os.environ.get(ADMIN_PASSWORD_ENV) or None,
        )


def _free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 (so the URL can be printed before serving)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_demo(
    *,
    duration: float | None,
    port: int,
    history_days: float,
    rate: float,
    data_dir: Path | None,
    password: str | None,
) -> None:
    from trafficatlas.api.server import install_stop_signals, serve_forever, stopping
    from trafficatlas.demo.run import (
        DEMO_CLASSIFY,
        LiveExporter,
        make_model,
        prefill_history,
        summary,
    )
    from trafficatlas.demo.site import (
        HOME_LATITUDE,
        HOME_LONGITUDE,
        PEER_NAMES,
        endpoint_addresses,
        new_admin_password,
        peer_prefixes,
        register_peers,
        set_admin_password,
    )
    from trafficatlas.logging import configure_logging
    from trafficatlas.runtime import Runtime
    from trafficatlas.settings import load_settings
    from trafficatlas.sources.collector import FlowCollector

    configure_logging("warning")
    tmp = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="trafficatlas-demo-")) if data_dir is None else data_dir
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    port = port or _free_port()
    peers = len(PEER_NAMES)
    settings = load_settings(
        None,
        data_dir=str(root),
        collector={
            "enabled": True,
            "listen": [{"host": "127.0.0.1", "port": 0}],
            "batch_ms": 50,
        },
        classify=DEMO_CLASSIFY,
        http={"host": "127.0.0.1", "port": port, "socket": str(root / "trafficatlas.sock")},
        pipeline={"flush_interval_s": 1.0},
        api={"home_latitude": HOME_LATITUDE, "home_longitude": HOME_LONGITUDE},
    )
    password = password or new_admin_password()
    runtime = Runtime(settings)
    exporter: LiveExporter | None = None
    stop = threading.Event()
    install_stop_signals()
    try:
        root.mkdir(parents=True, exist_ok=True)
        set_admin_password(settings, password)
        register_peers(settings.store.resolved_metadata_path(settings.data_dir), peers)
        runtime.start()
        assert runtime.pipeline is not None
        runtime.pipeline.classifier.set_peer_prefixes(peer_prefixes(peers))
        endpoints = endpoint_addresses(peers)
        handshakes = threading.Thread(
            target=_report_peers, args=(runtime, endpoints, stop), daemon=True
        )
        handshakes.start()
        if duration is not None:
            # SIGINT, like Ctrl-C: the server's handler stops it, or KeyboardInterrupt before that
            timer = threading.Timer(duration, lambda: os.kill(os.getpid(), signal.SIGINT))
            timer.daemon = True
            timer.start()
        with Progress(
            TextColumn("prefilling history"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} h"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task("history", total=None)
            flows = prefill_history(
                runtime,
                history_days,
                flows_per_s=rate,
                peers=peers,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        collector = next(s for s in runtime.sources if isinstance(s, FlowCollector))
        exporter = LiveExporter(collector.ports[0], make_model(flows_per_s=rate, peers=peers))
        exporter.start()
        url = f"http://127.0.0.1:{port}/"
        console.print(f"[bold]trafficatlas demo[/bold] — data in {root}")
        console.print(
            f"history: {flows:,} flows over {history_days:g} days from {peers} peers; "
            f"live NetFlow v9 → 127.0.0.1:{collector.ports[0]}"
        )
        console.print(
            f"\n  Dashboard: [bold]{url}[/bold]\n"
            f"  Log in as: [bold]admin[/bold]\n"
            f"  Password:  [bold]{password}[/bold]  (this run only)\n"
        )
        console.print(
            f"In another shell: TRAFFICATLAS_DATA_DIR={root} trafficatlas top --by country,asn"
        )
        console.print(
            "Ctrl-C stops the demo." if duration is None else f"stopping after {duration:g} s."
        )
        shower = threading.Thread(target=_show_live, args=(runtime, console, stop), daemon=True)
        shower.start()
        serve_forever(runtime, "127.0.0.1", port, settings.socket_path())
    except KeyboardInterrupt:
        console.print("interrupted: stopping the demo")
    finally:
        stopping()
        stop.set()
        if exporter is not None:
            exporter.stop()
        runtime.stop()
        result = summary(runtime, exporter)
        sys.stdout.write(json.dumps({"demo": result}) + "\n")
        sys.stdout.flush()
        if tmp:
            shutil.rmtree(root, ignore_errors=True)


def _report_peers(runtime: Runtime, endpoints: dict[str, str], stop: threading.Event) -> None:
    """The demo peers' handshakes and endpoints, as a WireGuard listing would report them."""
    import time

    from trafficatlas.demo.site import report_peer_state

    while True:
        report_peer_state(runtime.peer_states, endpoints, time.time())
        if stop.wait(5.0):
            return


def _show_live(runtime: Runtime, console: Console, stop: threading.Event) -> None:
    """Every few seconds: the last minute's top countries from the live view."""
    from trafficatlas.enrich.countries import country_flag, country_name

    while not stop.wait(3.0):
        rows = runtime.live.by_country(60)
        total = sum(r[1] for r in rows) or 1
        parts = []
        for code, byts, _p, _f in rows[:6]:
            name = (
                f"{country_flag(code) or ''} {country_name(code) or code}"
                if code
                else "local/private"
            ).strip()
            parts.append(f"{name} {100 * byts / total:.0f}%")
        flows = runtime.pipeline.metrics.flows if runtime.pipeline else 0
        console.print(
            f"last 60 s: {human_bytes(total)} — "
            + ", ".join(parts)
            + f"  (flows so far: {flows:,})"
        )
