"""Where the flow collector's CPU goes, per datagram, beside nfcapd's: the budget behind the ratio.

Usage: uv run python bench/netflow_budget.py [--rate 100000] [--seconds 5]   (root: see below)

Same datagrams as bench/netflow.py (real pmacct v9/IPFIX records, 24 per datagram, addresses
varied). Two parts:

1. Stages alone, one thread, CPU time (``time.process_time``) per datagram: receiving from a
   loopback socket (pre-filled, then drained), decoding (``FlowDecoder.decode_many`` on batches of
   1,024 datagrams, as the collector does), and the pipeline (classify + GeoIP + aggregate + live
   view on merged batches of ten decoded batches, as the pipeline worker merges them under load).
2. Both receivers end to end at one rate they both sustain without loss (``--rate``): the CPU
   time the receiver used (all its threads and its receiving child processes; for nfcapd read
   from /proc) divided by the
   datagrams sent, and the sender's CPU time per datagram, so the three add up to what the
   machine spends per datagram.

Root is needed only to raise net.core.rmem_max (as bench/netflow.py does) so the pre-filled
socket of part 1 can hold its datagrams; it is restored at the end. Prints a table on stderr and
one JSON line on stdout. Loopback only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netflow import (
    Sender,
    Traffic,
    Trafficatlas,
    build_traffic,
    rmem_max,
    running_nfcapd,
    udp_socket,
    wait_until,
)

BATCH = 1024  # datagrams per decoder batch (the collector's default)
MERGE = 10  # decoded batches merged into one pipeline batch


def cpu_of(pid: int) -> float:
    """utime + stime of a process (seconds), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    f = stat[stat.rindex(")") + 2 :].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def stage_receive(traffic: Traffic, count: int) -> float:
    """CPU µs per datagram to receive ``count`` queued datagrams with ``recvfrom``."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    pool = traffic.datagrams
    for i in range(count):
        tx.send(pool[i % len(pool)])
    rx.setblocking(False)
    got = 0
    t0 = time.process_time()
    try:
        while got < count:
            rx.recvfrom(65535)
            got += 1
    except BlockingIOError:
        pass
    cpu = time.process_time() - t0
    tx.close()
    rx.close()
    if got < count // 2:
        raise RuntimeError(f"only {got} of {count} datagrams were queued (rmem_max too small?)")
    return cpu / got * 1e6


def stage_decode_and_pipeline(traffic: Traffic, rounds: int) -> tuple[float, float, int]:
    """CPU µs per datagram of decoding and of the pipeline; flows per datagram."""
    from trafficatlas.flowbatch import FlowBatch
    from trafficatlas.sources.base import SourceBatch

    ours = Trafficatlas(1 << 20, live=True)  # its decoder and pipeline, used directly here
    ours.stop()  # no threads: the stages run on this one
    dec, pipe = ours.collector.decoder, ours.pipeline
    now = time.time()
    dec.decode_many([(t, "127.0.0.1", now) for t in traffic.templates])
    dgs = [(d, "127.0.0.1", now) for d in traffic.datagrams]
    decoded = []
    t0 = time.process_time()
    for _ in range(rounds):
        for i in range(0, len(dgs), BATCH):
            decoded.append(dec.decode_many(dgs[i : i + BATCH]))
    decode_cpu = time.process_time() - t0
    n_dg = rounds * len(dgs)
    merged = [
        SourceBatch("flowexport", FlowBatch.concat(decoded[i : i + MERGE]))
        for i in range(0, len(decoded), MERGE)
    ]
    flows = sum(len(b.flows) for b in merged)
    pipe.process(merged[0])  # warm-up (first-use allocations)
    t0 = time.process_time()
    for b in merged:
        pipe.process(b)
    pipe_cpu = time.process_time() - t0
    return decode_cpu / n_dg * 1e6, pipe_cpu / n_dg * 1e6, round(flows / n_dg)


def end_to_end_trafficatlas(sender: Sender, rate: float, seconds: float) -> dict[str, float]:
    ours = Trafficatlas(32 << 20, live=True)
    try:
        ours.step(sender, 2000, 0.5)  # warm-up, as bench/netflow.py
        children = [lst._child.pid for lst in ours.collector.listeners if lst._child]
        c0 = time.process_time() + sum(cpu_of(p) for p in children if p)
        sent, step = ours.step(sender, rate, seconds)
        cpu = time.process_time() + sum(cpu_of(p) for p in children if p) - c0
    finally:
        ours.stop()
    return {
        "datagrams": sent.datagrams,
        "lost_flows": sent.flows - step.received,
        "cpu_us_per_datagram": cpu / sent.datagrams * 1e6,
    }


def end_to_end_nfcapd(sender: Sender, rate: float, seconds: float) -> dict[str, float]:
    """nfcapd's CPU per datagram, and the sender's in the same step (nfcapd drains fastest)."""
    pid = sender._proc.pid
    assert pid is not None
    with (
        tempfile.TemporaryDirectory(prefix="bench-nfcapd-") as tmp,
        running_nfcapd(32 << 20, Path(tmp)) as (proc, port),
    ):
        c0, s0 = cpu_of(proc.pid), cpu_of(pid)
        sent = sender.run(port, rate, seconds)
        sender_cpu = cpu_of(pid) - s0
        wait_until(lambda: (udp_socket(port) or (0, 0))[0] == 0, 30, every=0.002)
        cpu = cpu_of(proc.pid) - c0
        drops = (udp_socket(port) or (0, 0))[1]
    return {
        "datagrams": sent.datagrams,
        "kernel_drops": drops,
        "cpu_us_per_datagram": cpu / sent.datagrams * 1e6,
        "sender_us_per_datagram": sender_cpu / sent.datagrams * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100000, help="datagrams/s, end to end")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=10, help="passes over the 4,096 datagrams")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    traffic = build_traffic(np.random.default_rng(11), 2048, 1 << 16)
    out: dict[str, Any] = {}
    with rmem_max(64 << 20):
        out["receive_us"] = stage_receive(traffic, 20_000)
    out["decode_us"], out["pipeline_us"], out["flows_per_datagram"] = stage_decode_and_pipeline(
        traffic, args.rounds
    )
    say(
        f"stages alone (CPU µs per datagram): receive {out['receive_us']:.2f}, decode "
        f"{out['decode_us']:.2f}, pipeline {out['pipeline_us']:.2f} "
        f"({out['flows_per_datagram']} flows per datagram)"
    )
    sender = Sender(traffic)
    try:
        with rmem_max(32 << 20):
            out["trafficatlas"] = end_to_end_trafficatlas(sender, args.rate, args.seconds)
            out["nfcapd"] = end_to_end_nfcapd(sender, args.rate, args.seconds)
            out["sender_us"] = out["nfcapd"].pop("sender_us_per_datagram")
    finally:
        sender.close()
    ta, nf = out["trafficatlas"], out["nfcapd"]
    say(
        f"end to end at {args.rate:.0f} datagrams/s (CPU µs per datagram): trafficatlas "
        f"{ta['cpu_us_per_datagram']:.2f} (lost flows {ta['lost_flows']}), nfcapd "
        f"{nf['cpu_us_per_datagram']:.2f} (kernel drops {nf['kernel_drops']}), sender "
        f"{out['sender_us']:.2f}"
    )
    out["cpu_ratio"] = round(ta["cpu_us_per_datagram"] / nf["cpu_us_per_datagram"], 2)
    say(f"  trafficatlas spends {out['cpu_ratio']}x nfcapd's CPU per datagram")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
