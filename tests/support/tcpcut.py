"""A loopback TCP proxy that can cut a connection at a chosen moment (network-failure tests).

``cut_after_insert``: once the client sends a query containing the marker (e.g. "INSERT INTO
traffic_in"), the proxy lets the insert go through to the server, and when the server answers
the client's data (the insert is done and committed) it closes the client's connection instead
of forwarding that answer: the client sees a network error after the server committed.
``stop()`` closes everything: the store behind it becomes unreachable.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    # 0 normal, 1 insert query sent, 2 server answered (table structure), 3 client sent the
    # data, 4 cut (the server answered the data)
    phase: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CuttingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self.marker: bytes | None = None
        self.cuts = 0
        self._pairs: list[_Pair] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after_insert(self, marker: bytes) -> None:
        """Arm: the next connection sending ``marker`` is cut after the server commits."""
        self.marker = marker

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            pair = _Pair(client, server)
            self._pairs.append(pair)
            threading.Thread(target=self._upstream, args=(pair,), daemon=True).start()
            threading.Thread(target=self._downstream, args=(pair,), daemon=True).start()

    def _upstream(self, pair: _Pair) -> None:
        while True:
            try:
                data = pair.client.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._close(pair)
                return
            with pair.lock:
                if pair.phase == 0 and self.marker is not None and self.marker in data:
                    pair.phase = 1
                    self.marker = None
                elif pair.phase == 2:
                    pair.phase = 3
            try:
                pair.server.sendall(data)
            except OSError:
                self._close(pair)
                return

    def _downstream(self, pair: _Pair) -> None:
        while True:
            try:
                data = pair.server.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._close(pair)
                return
            with pair.lock:
                if pair.phase == 1:
                    pair.phase = 2
                elif pair.phase == 3:
                    pair.phase = 4
                    self.cuts += 1
            if pair.phase == 4:
                self._close(pair)
                return
            try:
                pair.client.sendall(data)
            except OSError:
                self._close(pair)
                return

    @staticmethod
    def _close(pair: _Pair) -> None:
        for s in (pair.client, pair.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            # Wakes the accept() blocked in the other thread; close() alone would not.
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for pair in self._pairs:
            self._close(pair)
