"""Serving the apps: the network listener and the owner-only Unix socket, one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Generator
from pathlib import Path

import uvicorn

from trafficatlas.api.app import create_app
from trafficatlas.errors import ConfigError
from trafficatlas.runtime import Runtime, socket_usable


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve_forever`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def serve_forever(runtime: Runtime, host: str, port: int, socket_path: Path) -> None:
    """Serve until SIGINT/SIGTERM; the socket file is owner-only and removed at exit."""
    if socket_usable(socket_path):
        raise ConfigError(f"another trafficatlas server is running (socket {socket_path})")
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a stale socket from a crashed run
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    net = _Server(
        uvicorn.Config(
            create_app(runtime),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",  # closes the app's metadata store on shutdown
        )
    )
    # Everything loaded so far (GeoIP tables, app, settings) lives as long as the process: keep
    # it out of the garbage collector's full passes, which would otherwise stall every request
    # in flight for tens of milliseconds.
    gc.collect()
    gc.freeze()
    old_umask = os.umask(0o177)  # the socket is created 0600: only its owner may connect
    try:
        local = _Server(
            uvicorn.Config(
                create_app(runtime, local=True),
                uds=str(socket_path),
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        asyncio.run(_run(net, local))
    finally:
        gc.unfreeze()  # let shutdown free everything again (native objects report leaks otherwise)
        os.umask(old_umask)
        with contextlib.suppress(FileNotFoundError):
            socket_path.unlink()


async def _run(*servers: uvicorn.Server) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for s in servers:
            s.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
