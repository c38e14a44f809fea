"""`trafficatlas demo`: a real pipeline on loopback with synthetic NetFlow, offline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from trafficatlas.cli.render import human_bytes


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
        """Start the real pipeline with the bundled databases, fed by a NetFlow generator."""
        from trafficatlas.api.server import serve_forever
        from trafficatlas.demo.run import (
            DEMO_CLASSIFY,
            LiveExporter,
            make_model,
            prefill_history,
            summary,
        )
        from trafficatlas.logging import configure_logging
        from trafficatlas.runtime import Runtime
        from trafficatlas.settings import load_settings
        from trafficatlas.sources.collector import FlowCollector

        configure_logging("warning")
        tmp = data_dir is None
        root = Path(tempfile.mkdtemp(prefix="trafficatlas-demo-")) if data_dir is None else data_dir
        console = Console(stderr=True)
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
        )
        runtime = Runtime(settings)
        exporter: LiveExporter | None = None
        try:
            runtime.start()
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
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            collector = next(s for s in runtime.sources if isinstance(s, FlowCollector))
            exporter = LiveExporter(collector.ports[0], make_model(flows_per_s=rate))
            exporter.start()
            console.print(f"[bold]trafficatlas demo[/bold] — data in {root}")
            console.print(
                f"history: {flows:,} flows over {history_days:g} days; live NetFlow v9 → 127.0.0.1:{collector.ports[0]}"
            )
            if port:
                console.print(f"API: http://127.0.0.1:{port}/api/health")
            console.print(
                f"In another shell: TRAFFICATLAS_DATA_DIR={root} trafficatlas top --by country,asn"
            )
            console.print(
                "Ctrl-C stops the demo." if duration is None else f"stopping after {duration:g} s."
            )
            stop = threading.Event()
            shower = threading.Thread(
                target=_show_live, args=(runtime, exporter, console, stop), daemon=True
            )
            shower.start()
            if duration is not None:
                timer = threading.Timer(duration, lambda: os.kill(os.getpid(), signal.SIGINT))
                timer.daemon = True
                timer.start()
            try:
                serve_forever(runtime, "127.0.0.1", port, settings.socket_path())
            finally:
                stop.set()
        finally:
            if exporter is not None:
                exporter.stop()
            runtime.stop()
            result = summary(runtime, exporter)
            sys.stdout.write(json.dumps({"demo": result}) + "\n")
            if tmp:
                shutil.rmtree(root, ignore_errors=True)


def _show_live(runtime, exporter, console: Console, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
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
