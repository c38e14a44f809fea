"""Receiving datagrams in a child process, so the parent's GIL never stalls the socket.

In one process, the receive thread must take the GIL for every datagram; while the decoder or the
pipeline hold it (a flush, a garbage collection, a large batch), the socket is not drained and
bursts become kernel drops. Here a child process does nothing but ``recvfrom`` and batching; each
batch crosses a pipe as one message: a small header, the datagram lengths, arrival times and
exporter indexes as packed arrays, the exporter addresses, then the payloads back to back. The
parent reads whole messages (blocking in the kernel, GIL released) and rebuilds the batch.

This module imports only the standard library: it is what the child process loads.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import time
from array import array
from multiprocessing.connection import Connection
from typing import Any

# Message header: datagrams, addresses, payload bytes, receive errors since the last message.
HEADER = struct.Struct("<IIQI")
END = b"end"  # the child's last message: nothing follows


def encode_batch(
    payloads: list[bytes], hosts: list[str], arrivals: list[float], errors: int
) -> bytes:
    """One pipe message for a batch (``hosts`` and ``arrivals`` per datagram)."""
    table: dict[str, int] = {}
    index = array("H", [table.setdefault(h, len(table)) for h in hosts])
    lengths = array("I", [len(p) for p in payloads])
    times = array("d", arrivals)
    names = "\n".join(table).encode()
    body = b"".join(payloads)
    return b"".join(
        (
            HEADER.pack(len(payloads), len(table), len(body), errors),
            lengths.tobytes(),
            times.tobytes(),
            index.tobytes(),
            struct.pack("<I", len(names)),
            names,
            body,
        )
    )


def decode_batch(msg: bytes) -> tuple[list[tuple[bytes, str, float]], int]:
    """The datagrams of one message, and the receive errors it reports."""
    n, _, size, errors = HEADER.unpack_from(msg)
    off = HEADER.size
    lengths = array("I")
    lengths.frombytes(msg[off : off + 4 * n])
    off += 4 * n
    times = array("d")
    times.frombytes(msg[off : off + 8 * n])
    off += 8 * n
    index = array("H")
    index.frombytes(msg[off : off + 2 * n])
    off += 2 * n
    (names_len,) = struct.unpack_from("<I", msg, off)
    off += 4
    names = msg[off : off + names_len].decode().split("\n")
    off += names_len
    if off + size != len(msg):
        raise ValueError("receiver message size mismatch")
    view = memoryview(msg)
    out: list[tuple[bytes, str, float]] = []
    append = out.append
    for length, t, i in zip(lengths, times, index, strict=True):
        end = off + length
        append((bytes(view[off:end]), names[i], t))
        off = end
    return out, errors


def receive_main(sock: socket.socket, conn: Connection, batch_max: int, batch_ms: float) -> None:
    """The child: receive into batches until the parent closes its end of the pipe.

    A batch is sent when it holds ``batch_max`` datagrams or ``batch_ms`` have passed since its
    first one. The parent asks the child to stop by sending anything on the pipe; a parent that
    is gone closes the pipe, which ends the child too. Ctrl-C (SIGINT to the whole process group)
    is left to the parent, which stops the child after handing over what it received.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # the parent is gone (broken pipe): nothing to deliver
        _receive_loop(sock, conn, batch_max, batch_ms)
    with contextlib.suppress(OSError):
        conn.send_bytes(END)
    conn.close()
    sock.close()


def _receive_loop(sock: socket.socket, conn: Connection, batch_max: int, batch_ms: float) -> None:
    wait = max(batch_ms / 1000.0, 0.001)
    sock.settimeout(wait)
    recv = sock.recvfrom
    payloads: list[bytes] = []
    hosts: list[str] = []
    arrivals: list[float] = []
    errors = 0
    deadline = time.monotonic() + wait
    now = time.time
    while True:
        addr: Any = None
        try:
            data, addr = recv(65535)
        except TimeoutError:
            pass
        except OSError:
            errors += 1
            time.sleep(0.01)
        if addr is not None:
            host = addr[0]
            if host.startswith("::ffff:"):
                host = host[7:]
            payloads.append(data)
            hosts.append(host)
            arrivals.append(now())
            if len(payloads) < batch_max and time.monotonic() < deadline:
                continue
        elif not payloads:
            deadline = time.monotonic() + wait
            if conn.poll():
                return
            continue
        elif time.monotonic() < deadline:
            continue
        conn.send_bytes(encode_batch(payloads, hosts, arrivals, errors))
        payloads, hosts, arrivals, errors = [], [], [], 0
        deadline = time.monotonic() + wait
        if conn.poll():
            return
