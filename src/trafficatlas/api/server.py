"""Serving the apps: the network listener and the owner-only Unix socket, one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import threading
from collections.abc import Generator
from pathlib import Path

import uvicorn

from trafficatlas.api.app import create_app
from trafficatlas.errors import ConfigError
from trafficatlas.logging import get_logger
from trafficatlas.runtime import Runtime, socket_usable

log = get_logger("server")


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

    Meant for a process that stops after it returns: later SIGINT/SIGTERM are only logged, so
    the caller's graceful shutdown runs to its end.

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
        stopping()  # (asyncio.run restored the default handlers on its way out)
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


_stop_requested = threading.Event()


def install_stop_signals() -> None:
    """SIGINT/SIGTERM handling for a command that runs until stopped (serve, demo).

    The first signal raises KeyboardInterrupt in the main thread (it interrupts start-up; while
    serving, :func:`serve_forever`'s own handlers turn it into a clean stop instead). Every later
    one is only logged: the graceful stop that follows (flushing the pipeline into the store)
    must not be cut short by another Ctrl-C — a terminal signals the whole process group, and
    `uv run` forwards the signal again.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_stop_signal)


def stopping() -> None:
    """The process is stopping: from now on SIGINT/SIGTERM are only logged."""
    _stop_requested.set()
    install_stop_signals()


def _on_stop_signal(signum: int, frame: object) -> None:
    if _stop_requested.is_set():
        log.warning("already stopping: flushing to the store", signal=signal.Signals(signum).name)
        return
    _stop_requested.set()
    raise KeyboardInterrupt
