import contextlib
import os
import queue
import signal
import socket
import time

import pytest

from trafficatlas.errors import ConfigError
from trafficatlas.sources.listener import Datagram, UDPListener, kernel_udp_drops
from trafficatlas.sources.receiver import decode_batch, encode_batch


def _drain(q: "queue.Queue[list[Datagram]]", want: int, timeout: float = 5.0) -> list[Datagram]:
    got: list[Datagram] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            got.extend(q.get(timeout=0.1))
    return got


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_receives_and_batches_on_loopback(process: bool) -> None:
    q: queue.Queue[list[Datagram]] = queue.Queue(maxsize=100)
    listener = UDPListener("127.0.0.1", 0, q, batch_max=50, batch_ms=10, process=process)
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


@pytest.mark.parametrize("process", [False, True], ids=["thread", "process"])
def test_full_queue_drops_whole_batches_and_counts_them(process: bool) -> None:
    q: queue.Queue[list[Datagram]] = queue.Queue(maxsize=1)
    listener = UDPListener("127.0.0.1", 0, q, batch_max=10, batch_ms=5, process=process)
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


def test_receiver_message_round_trip() -> None:
    payloads = [b"", b"a", bytes(range(256)) * 5, b"\x00" * 1400]
    hosts = ["127.0.0.1", "::1", "127.0.0.1", "192.0.2.7"]
    times = [1.5, 2.25, 3.0, 1e9 + 0.125]
    msg = encode_batch(payloads, hosts, times, errors=3)
    batch, errors = decode_batch(msg)
    assert errors == 3
    assert batch == list(zip(payloads, hosts, times, strict=True))
    with pytest.raises(ValueError, match="size mismatch"):
        decode_batch(msg + b"x")


def test_receiver_process_restarts_when_killed_and_stops_cleanly() -> None:
    q: queue.Queue[list[Datagram]] = queue.Queue(maxsize=100)
    listener = UDPListener("127.0.0.1", 0, q, batch_max=5, batch_ms=5, process=True)
    listener.start()
    try:
        child = listener._child
        assert child is not None and child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while listener.metrics.receiver_restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert listener.metrics.receiver_restarts == 1
        got: list[Datagram] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not got and time.monotonic() < deadline:  # until the new child reads
                s.sendto(b"after", ("127.0.0.1", listener.port))
                got = _drain(q, 1, timeout=0.2)
        assert got and got[0][0] == b"after"
        new_child = listener._child
        assert new_child is not None and new_child.pid != child.pid
    finally:
        listener.stop()
    assert not new_child.is_alive()
    assert listener._child is None
