"""Serving the apps: the network listener and the owner-only Unix socket, one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
from collections.abc import Generator
from pathlib import Path

import uvicorn

from trafficatlas.api.app import create_app
from trafficatlas.errors import ConfigError
from trafficatlas.runtime import Runtime, socket_usable


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve_forever`."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket | None = None) -> None:
        super().__init__(config)
        self._sock = sock

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets=sockets or ([self._sock] if self._sock else None))


def owner_only_socket(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` that only its owner may connect to (mode 0600).

    Bound here rather than by uvicorn, which makes a new socket file world-writable (0666).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # created 0600: never briefly open to others
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot create the local socket {path}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    return sock


def serve_forever(runtime: Runtime, host: str, port: int, socket_path: Path) -> None:
    """Serve until SIGINT/SIGTERM; the socket file is owner-only and removed at exit.

    A collector (role = collector) answers only health and metrics on ``host:port``.
    """
    if socket_usable(socket_path):
        raise ConfigError(f"another trafficatlas server is running (socket {socket_path})")
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a stale socket from a crashed run
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if runtime.settings.role == "collector":
        from trafficatlas.api.collector_app import create_collector_app

        app = create_collector_app(runtime)
    else:
        app = create_app(runtime)
    net = _Server(
        uvicorn.Config(
            app,
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
    sock = owner_only_socket(socket_path)
    try:
        local = _Server(
            uvicorn.Config(
                create_app(runtime, local=True),
                log_level="warning",
                access_log=False,
                lifespan="off",
            ),
            sock,
        )
        asyncio.run(_run(net, local))
    finally:
        gc.unfreeze()  # let shutdown free everything again (native objects report leaks otherwise)
        sock.close()
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
