import contextlib
import queue
import socket
import time

import pytest

from trafficatlas.errors import ConfigError
from trafficatlas.sources.listener import Datagram, UDPListener, kernel_udp_drops


def _drain(q: "queue.Queue[list[Datagram]]", want: int, timeout: float = 5.0) -> list[Datagram]:
    got: list[Datagram] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            got.extend(q.get(timeout=0.1))
    return got


def test_receives_and_batches_on_loopback() -> None:
    q: queue.Queue[list[Datagram]] = queue.Queue(maxsize=100)
    listener = UDPListener("127.0.0.1", 0, q, batch_max=50, batch_ms=10)
    listener.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(500):
                s.sendto(i.to_bytes(4, "big"), ("127.0.0.1", listener.port))
        got = _drain(q, 500)
    finally:
        listener.stop()
    assert len(got) == 500
    assert sorted(int.from_bytes(d, "big") for d, _, _ in got) == list(range(500))
    assert {addr for _, addr, _ in got} == {"127.0.0.1"}
    assert listener.metrics.datagrams == 500
    assert listener.metrics.batches >= 10  # batch_max=50
    assert listener.effective_rcvbuf > 0 or listener.effective_rcvbuf == 0


def test_full_queue_drops_whole_batches_and_counts_them() -> None:
    q: queue.Queue[list[Datagram]] = queue.Queue(maxsize=1)
    listener = UDPListener("127.0.0.1", 0, q, batch_max=10, batch_ms=5)
    listener.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(200):
                s.sendto(b"x" * 10, ("127.0.0.1", listener.port))
        deadline = time.monotonic() + 5
        while listener.metrics.datagrams < 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.05)
    finally:
        listener.stop()
    m = listener.metrics
    kept = len(_drain(q, 10, timeout=0.5))
    assert m.datagrams == 200
    assert m.dropped_datagrams > 0
    assert kept + m.dropped_datagrams == 200


def test_bind_conflict_is_config_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        listener = UDPListener("127.0.0.1", port, queue.Queue())
        with pytest.raises(ConfigError, match="cannot listen"):
            listener.start()


def test_kernel_drops_visible_for_bound_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert kernel_udp_drops(port) == 0
    assert kernel_udp_drops(1) is None or kernel_udp_drops(1) == 0
