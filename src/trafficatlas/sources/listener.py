"""UDP listener for flow exporters: a dedicated receiver per socket, batching datagrams.

Why not asyncio: per datagram, asyncio's protocol callback costs several microseconds of Python
work on the event loop, while a blocking ``recvfrom`` loop spends most of its time in the kernel
(see docs/benchmarks.md for the measured rates). The loop runs in a thread, or (``process=True``)
in a child process that sends whole batches over a pipe (receiver.py), so that the parent's GIL
pauses cannot keep the socket from being drained. Datagrams are grouped into batches (up to
``batch_max`` datagrams or ``batch_ms`` milliseconds) and handed to a bounded queue; when the
consumer falls behind, whole batches are dropped and counted — memory never grows without bound.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from trafficatlas.errors import ConfigError
from trafficatlas.logging import get_logger
from trafficatlas.sources.receiver import END, decode_batch, receive_main

log = get_logger("listener")

Datagram = tuple[bytes, str, float]  # payload, exporter address, arrival time (epoch seconds)


@dataclass(slots=True)
class ListenerMetrics:
    datagrams: int = 0
    bytes: int = 0
    batches: int = 0
    dropped_batches: int = 0
    dropped_datagrams: int = 0
    receive_errors: int = 0
    receiver_restarts: int = 0


@dataclass(slots=True)
class UDPListener:
    """Receives datagrams on ``host:port`` and puts lists of :data:`Datagram` on ``out``."""

    host: str
    port: int
    out: queue.Queue[list[Datagram]]
    rcvbuf: int = 32 * 1024 * 1024
    batch_max: int = 1024
    batch_ms: float = 20.0
    # Receive in a child process (see receiver.py) instead of a thread of this one.
    process: bool = False
    metrics: ListenerMetrics = field(default_factory=ListenerMetrics)
    _sock: socket.socket | None = None
    _thread: threading.Thread | None = None
    _child: mp.process.BaseProcess | None = None
    _conn: Connection | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Bind the socket (ConfigError when the address is unusable) and start receiving."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on UDP {self.host}:{self.port}: {exc.strerror}"
            ) from None
        sock.settimeout(max(self.batch_ms / 1000.0, 0.001))
        self.port = sock.getsockname()[1]  # resolves port 0 to the chosen one
        self._sock = sock
        self._stop.clear()
        if self.process:
            self._spawn()
            target = self._read_child
        else:
            target = self._run
        self._thread = threading.Thread(target=target, name=f"udp-{self.port}", daemon=True)
        self._thread.start()
        log.info("listening", host=self.host, port=self.port, process=self.process)

    @property
    def effective_rcvbuf(self) -> int:
        """The receive buffer the kernel granted (it may cap the requested size)."""
        if self._sock is None:
            return 0
        return int(self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def stop(self) -> None:
        """Stop receiving; the batch being filled is handed over first."""
        self._stop.set()
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send_bytes(b"stop")
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._reap()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        recv = sock.recvfrom
        batch: list[Datagram] = []
        deadline = time.monotonic() + self.batch_ms / 1000.0
        m = self.metrics
        while not self._stop.is_set():
            try:
                data, addr = recv(65535)
            except TimeoutError:
                data = b""
                addr = None
            except OSError:
                if self._stop.is_set():
                    break
                m.receive_errors += 1
                time.sleep(0.01)
                continue
            now = time.time()
            if addr is not None:
                host = addr[0]
                if host.startswith("::ffff:"):
                    host = host[7:]
                batch.append((data, host, now))
                m.datagrams += 1
                m.bytes += len(data)
            if batch and (len(batch) >= self.batch_max or time.monotonic() >= deadline):
                self._hand_over(batch)
                batch = []
                deadline = time.monotonic() + self.batch_ms / 1000.0
            elif not batch:
                deadline = time.monotonic() + self.batch_ms / 1000.0
        if batch:
            self._hand_over(batch)

    # -- child process mode ----------------------------------------------------------------------

    def _spawn(self) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that runs threads
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=receive_main,
            args=(self._sock, child, self.batch_max, self.batch_ms),
            name=f"trafficatlas-udp-{self.port}",
            daemon=True,
        )
        proc.start()
        child.close()
        self._child, self._conn = proc, parent

    def _reap(self) -> None:
        proc, conn = self._child, self._conn
        self._child = self._conn = None
        if proc is not None:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        if conn is not None:
            conn.close()

    def _read_child(self) -> None:
        """Batches from the child until it ends; a child that dies is restarted."""
        m = self.metrics
        while True:
            conn = self._conn
            assert conn is not None
            try:
                msg = conn.recv_bytes()
            except (EOFError, OSError):
                msg = b""
            if msg == END:
                return
            if not msg:  # the child died (killed, out of memory): keep the port served
                if self._stop.is_set():
                    return
                m.receiver_restarts += 1
                log.error("receiver process ended; restarting it", port=self.port)
                self._reap()
                time.sleep(0.1)
                self._spawn()
                continue
            try:
                batch, errors = decode_batch(msg)
            except (ValueError, UnicodeDecodeError, struct.error) as exc:
                m.receive_errors += 1
                log.error("bad message from the receiver process", error=str(exc))
                continue
            m.receive_errors += errors
            m.datagrams += len(batch)
            m.bytes += sum(len(d) for d, _, _ in batch)
            if batch:
                self._hand_over(batch)

    def _hand_over(self, batch: list[Datagram]) -> None:
        try:
            self.out.put_nowait(batch)
            self.metrics.batches += 1
        except queue.Full:
            self.metrics.dropped_batches += 1
            self.metrics.dropped_datagrams += len(batch)


def kernel_udp_drops(port: int, proc: Path = Path("/proc/net")) -> int | None:
    """Datagrams the kernel dropped for sockets bound to ``port`` (None when not visible)."""
    total = 0
    seen = False
    for name in ("udp", "udp6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 13:
                continue
            try:
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
            except (IndexError, ValueError):
                continue
            if local_port == port:
                seen = True
                with contextlib.suppress(ValueError):
                    total += int(parts[-1])
    return total if seen else None
