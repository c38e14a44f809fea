"""Flow collector benchmark: trafficatlas (listener → decoder → pipeline) against nfcapd.

Usage: uv run python bench/netflow.py [--rates 5000,10000,...] [--seconds 5] [--max-lag 1]

Input: the pmacct nfprobe NetFlow v9 and IPFIX samples of tests/fixtures/flows/datagrams. Their
templates are sent as they are; the data datagrams are rebuilt MTU-sized (as many real records as
fit, ≈1400 bytes) with the IPv4 addresses rewritten to varied public addresses (data only: every
datagram goes to 127.0.0.1) and the flow times moved to now. v9 and IPFIX datagrams alternate.

A sender in its own process paces a target datagram rate for ``--seconds`` per step, with steps
of increasing rate: first against trafficatlas (one instance, running through all its steps like
a server), then the same steps and datagrams against nfcapd (a fresh one per step, stopped with
SIGTERM so it writes its file). A side stops at its first loss. trafficatlas runs as runtime.py
wires it (FlowCollector → Pipeline: classify, GeoIP with the bundled data, aggregate, live view);
the store is off (no sink). Flows received: Pipeline.metrics.flows for trafficatlas, the
``Flows:`` stat of ``nfdump -I`` for nfcapd.

A step is lossless when received == sent, nothing was dropped (kernel, queues, bad datagrams),
and the receiver caught up within ``--max-lag`` of the sender's end (a backlog drained later is
not a sustained rate). No-loss rate: the flows/s sent in the last lossless step. Prints a table
on stderr and a final JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "flows" / "datagrams"
SAMPLES = ("basic-pmacct-nfprobe-v9", "basic-pmacct-nfprobe-v10")
MTU_PAYLOAD = 1400
RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
DEFAULT_RATES = (
    "5000,10000,20000,30000,40000,60000,80000,120000,160000,200000,240000,280000,320000,360000,"
    "400000,450000"
)


# -- input -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Traffic:
    templates: list[bytes]  # template-only datagrams, sent first
    datagrams: list[bytes]  # data datagrams, replayed in a cycle
    flows: list[int]  # flow records in each data datagram


def _sets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(set id, body) of every set/flowset of a v9 or IPFIX datagram."""
    off = 20 if data[1] == 9 else 16
    while off + 4 <= len(data):
        sid, length = struct.unpack_from(">HH", data, off)
        if length < 4:
            return
        yield sid, data[off + 4 : off + length]
        off += length


def _template_count(body: bytes) -> int:
    """Template records in a v9 template flowset (each: id, field count, 4 bytes per field)."""
    n = off = 0
    while off + 4 <= len(body):
        count = struct.unpack_from(">H", body, off + 2)[0]
        if count == 0:
            break
        off += 4 + 4 * count
        n += 1
    return n


def public_addresses(rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """``n`` random IPv4 unicast addresses outside every private/reserved range."""
    from trafficatlas.enrich.special import Label, SpecialRanges

    special = SpecialRanges.build()
    out = np.zeros(0, dtype=np.uint32)
    while len(out) < n:
        cand = rng.integers(1 << 24, 224 << 24, 2 * n, dtype=np.uint32)
        lab = special.classify(
            np.full(len(cand), 4, np.uint8), np.zeros(len(cand), np.uint64), cand.astype(np.uint64)
        )
        out = np.concatenate([out, cand[lab == Label.PUBLIC]])
    return out[:n]


def build_traffic(rng: np.random.Generator, pool: int, addresses: int) -> Traffic:
    """Template datagrams and ``pool`` MTU-sized data datagrams from the pmacct samples."""
    from trafficatlas.sources.decode import FlowDecoder
    from trafficatlas.sources.templates import DataLayout

    addrs = public_addresses(rng, addresses)
    now = time.time()
    templates: list[bytes] = []
    per_version: list[list[tuple[bytes, int]]] = []
    for sample in SAMPLES:
        raw = [p.read_bytes() for p in sorted((CORPUS / sample).glob("*.bin"))]
        version = raw[0][1]
        dec = FlowDecoder()
        dec.decode_many([(d, "x", now) for d in raw])
        state = dec.exporters.get("x")
        head = raw[0][: 20 if version == 9 else 16]
        tsets = [(sid, body) for sid, body in _sets(raw[0]) if sid in (0, 2)]
        sets = b"".join(struct.pack(">HH", sid, 4 + len(b)) + b for sid, b in tsets)
        if version == 9:
            count = sum(_template_count(b) for _, b in tsets)
            templates.append(struct.pack(">HH", 9, count) + head[4:] + sets)
        else:
            templates.append(struct.pack(">HH", 10, 16 + len(sets)) + head[4:] + sets)
        # the real IPv4 data records, by template
        by_sid: dict[int, list[bytes]] = {}
        layouts: dict[int, DataLayout] = {}
        for d in raw:
            for sid, body in _sets(d):
                if sid < 256:
                    continue
                entry = state.templates.get((version, 0, sid))
                layout = entry.layout if entry else None
                if isinstance(layout, DataLayout) and "src4" in layout.keys:
                    usable = len(body) // layout.reclen * layout.reclen
                    by_sid.setdefault(sid, []).append(body[:usable])
                    layouts[sid] = layout
        sid, chunks = max(by_sid.items(), key=lambda kv: sum(map(len, kv[1])))
        layout = layouts[sid]
        reclen = layout.reclen
        records = np.frombuffer(b"".join(chunks), np.uint8).reshape(-1, reclen)
        fields = layout.dtype.fields
        assert fields is not None
        # move the flow times (absolute ms in pmacct's template) so the newest ends now
        shift = 0
        if "end_ms" in fields:
            end = records.copy().view(layout.dtype)["end_ms"].astype(np.int64)
            shift = int(now * 1000) - int(end.max())
        hdr = 20 if version == 9 else 16
        n = (MTU_PAYLOAD - hdr - 4) // reclen
        seq = 0
        built: list[tuple[bytes, int]] = []
        for i in range(pool):
            rows = records[(np.arange(n) + i) % len(records)].copy()
            typed = rows.view(layout.dtype).reshape(n)
            for key in ("src4", "dst4"):
                typed[key] = addrs[rng.integers(0, len(addrs), n)]
            for key in ("start_ms", "end_ms"):
                if key in fields:
                    typed[key] = typed[key].astype(np.int64) + shift
            body = struct.pack(">HH", sid, 4 + rows.size) + rows.tobytes()
            if version == 9:
                h = struct.pack(">HH", 9, n) + head[4:8] + struct.pack(">III", int(now), i, 0)
            else:
                h = struct.pack(">HHIII", 10, 16 + len(body), int(now), seq, 0)
            seq += n
            built.append((h + body, n))
        per_version.append(built)
    mixed = [pair for both in zip(*per_version, strict=True) for pair in both]
    return Traffic(templates, [d for d, _ in mixed], [n for _, n in mixed])


# -- sender (own process) --------------------------------------------------------------------


def sender_main(conn: Connection, traffic: Traffic) -> None:
    """Serve ``(port, rate, seconds)`` commands until None: paced sends to 127.0.0.1:port."""
    pool, flows = traffic.datagrams, traffic.flows
    size = len(pool)
    prefix = [0]
    for f in flows:
        prefix.append(prefix[-1] + f)
    while (cmd := conn.recv()) is not None:
        port, rate, seconds = cmd
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sock.connect(("127.0.0.1", port))
        for t in traffic.templates:
            sock.send(t)
        time.sleep(0.2)  # templates first, as an exporter at startup
        total = int(rate * seconds)
        send, perf, sleep = sock.send, time.perf_counter, time.sleep
        i = errors = lost_flows = 0
        t0 = perf()
        cap = t0 + 2 * seconds + 1  # bounded even when the target is out of reach
        while i < total:
            now = perf()
            due = min(total, int((now - t0) * rate) + 1)
            if i >= due:  # ahead: sleep rather than spin (the receiver needs the CPU)
                sleep(max(i / rate - (now - t0), 0.0005))
                continue
            if now > cap:
                break
            while i < due:
                try:
                    send(pool[i % size])
                except OSError:
                    errors += 1
                    lost_flows += flows[i % size]
                i += 1
        elapsed = perf() - t0
        end = time.monotonic()
        sock.close()
        cycles, rest = divmod(i, size)
        sent_flows = cycles * prefix[-1] + prefix[rest] - lost_flows
        conn.send((i - errors, sent_flows, elapsed, errors, end))


@dataclass(slots=True)
class Sent:
    datagrams: int
    flows: int
    elapsed: float
    errors: int
    end: float  # time.monotonic() of the last send (system-wide clock)

    @property
    def rate(self) -> float:
        return self.datagrams / self.elapsed if self.elapsed else 0.0


class Sender:
    def __init__(self, traffic: Traffic) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process with running threads
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=sender_main, args=(child, traffic), daemon=True)
        self._proc.start()

    def run(self, port: int, rate: float, seconds: float) -> Sent:
        self._conn.send((port, rate, seconds))
        return Sent(*self._conn.recv())

    def close(self) -> None:
        self._conn.send(None)
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)


# -- receivers -------------------------------------------------------------------------------


def udp_socket(port: int) -> tuple[int, int] | None:
    """(rx_queue bytes, drops) of the IPv4 UDP socket bound to ``port``, None when absent."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].rsplit(":", 1)[1], 16) == port:
            return int(parts[4].split(":")[1], 16), int(parts[-1])
    return None


@dataclass(slots=True)
class Step:
    received: int
    kernel_drops: int
    other_drops: int
    lag: float  # seconds from the sender's end until the receiver caught up


def wait_until(done: Callable[[], bool], timeout: float, every: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


class Trafficatlas:
    """FlowCollector → Pipeline wired as runtime.py does (store off)."""

    def __init__(self, rcvbuf: int, live: bool = True, process: bool = True) -> None:
        from trafficatlas.aggregate.aggregator import Aggregator, AggregatorSettings
        from trafficatlas.aggregate.live import LiveView
        from trafficatlas.classify.classifier import Classifier
        from trafficatlas.classify.settings import ClassifySettings
        from trafficatlas.enrich.engine import GeoIP
        from trafficatlas.pipeline import Pipeline
        from trafficatlas.settings import GeoIPSettings
        from trafficatlas.sources.collector import CollectorSettings, FlowCollector, ListenPort

        self.geo = GeoIP(GeoIPSettings())
        self.geo.load()
        self.live = LiveView()
        self.pipeline = Pipeline(
            self.geo,
            Classifier(ClassifySettings(), special=self.geo.special),
            Aggregator(AggregatorSettings()),
            sinks=[],
            live=[self.live.add] if live else [],
        )
        self.collector = FlowCollector(
            CollectorSettings(
                enabled=True,
                listen=[ListenPort(host="127.0.0.1", port=0)],
                rcvbuf=rcvbuf,
                receive_process=process,
            )
        )
        self.pipeline.start()
        self.collector.start(self.pipeline.submit)
        self.port = self.collector.ports[0]

    def _counts(self) -> tuple[int, int, int]:
        c = self.collector.metrics()
        m = self.pipeline.metrics
        other = int(c["dropped_datagrams"]) + m.dropped_batches + m.process_errors
        other += int(sum(v for k, v in c.items() if k.startswith("decode_errors:")))
        return m.flows, int(c.get("kernel_drops", 0)), other

    def idle(self) -> bool:
        sock = udp_socket(self.port)
        return (
            (sock is None or sock[0] == 0)
            and self.collector.metrics()["queue_depth"] == 0
            and self.pipeline.queue_depth() == 0
        )

    def step(self, sender: Sender, rate: float, seconds: float) -> tuple[Sent, Step]:
        flows0, kdrops0, other0 = self._counts()
        sent = sender.run(self.port, rate, seconds)
        metrics = self.pipeline.metrics  # a cheap read while the receiver catches up
        last, changed = metrics.flows, time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            flows = metrics.flows
            if flows != last:
                last, changed = flows, time.monotonic()
            if flows - flows0 >= sent.flows:
                break
            if time.monotonic() - changed > 2.0 and self.idle():
                break  # nothing more is coming (2 s: longer than any pause seen): loss
            time.sleep(0.005)
        flows, kdrops, other = self._counts()
        return sent, Step(
            flows - flows0, kdrops - kdrops0, other - other0, max(0.0, changed - sent.end)
        )

    def stop(self) -> None:
        self.collector.stop()
        self.pipeline.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_nfcapd(rcvbuf: int, folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A fresh nfcapd on a free loopback port writing into ``folder``: (process, port).

    Stopped with SIGTERM on exit, so it writes its file; its output goes to nfcapd.log there.
    """
    port = free_port()
    cmd = ["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(folder), "-t", "3600"]
    cmd += ["-B", str(rcvbuf)]
    with open(folder / "nfcapd.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_until(lambda: udp_socket(port) is not None, 10):
                raise RuntimeError(f"nfcapd did not bind port {port}")
            yield proc, port
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def nfcapd_step(sender: Sender, rate: float, seconds: float, rcvbuf: int) -> tuple[Sent, Step]:
    """One step against a fresh nfcapd (SIGTERM after it so it writes its file)."""
    with tempfile.TemporaryDirectory(prefix="bench-nfcapd-") as tmp:
        with running_nfcapd(rcvbuf, Path(tmp)) as (_, port):
            sent = sender.run(port, rate, seconds)
            wait_until(lambda: (udp_socket(port) or (0, 0))[0] == 0, 30, every=0.002)
            caught_up = time.monotonic()
            kdrops = (udp_socket(port) or (0, 0))[1]
            time.sleep(0.2)
        out = subprocess.run(
            ["nfdump", "-R", tmp, "-I"], capture_output=True, text=True, check=True
        ).stdout
        flows = [int(line.split()[1]) for line in out.splitlines() if line.startswith("Flows:")]
        text = (Path(tmp) / "nfcapd.log").read_text(errors="replace")
        bad = sum(int(n) for n in re.findall(r"Bad Packets: (\d+)", text))
    return sent, Step(flows[0] if flows else 0, kdrops, bad, max(0.0, caught_up - sent.end))


def others_cpu_seconds() -> float:
    """CPU time used so far by every process outside this benchmark's process group."""
    own, total = os.getpgrp(), 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            f = stat[stat.rindex(")") + 2 :].split()
            if int(f[2]) != own:  # pgrp; utime, stime, cutime, cstime
                total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def rmem_max(wanted: int) -> Iterator[int]:
    """Raise net.core.rmem_max to ``wanted`` for the run (root only), restore it after."""
    old = int(RMEM_MAX.read_text())
    raised = False
    if wanted > old and os.geteuid() == 0:
        try:
            RMEM_MAX.write_text(str(wanted))
            raised = True
        except OSError:
            pass
    try:
        yield int(RMEM_MAX.read_text())
    finally:
        if raised:
            RMEM_MAX.write_text(str(old))


# -- main ------------------------------------------------------------------------------------


def lossless(sent: Sent, step: Step, max_lag: float) -> bool:
    drops = step.kernel_drops + step.other_drops
    return step.received == sent.flows and drops == 0 and step.lag <= max_lag


def run_side(
    side: str, sender: Sender, rates: list[float], args: argparse.Namespace, say: Any
) -> float:
    """Steps of increasing rate until the first loss; the best lossless flows/s."""
    ours = (
        Trafficatlas(args.rcvbuf, live=not args.no_live, process=args.receiver == "process")
        if side == "trafficatlas"
        else None
    )
    best = 0.0
    try:
        if ours is not None:
            ours.step(sender, 2000, 0.5)  # warm-up: templates known, first batch done
        for rate in rates:
            if ours is not None:
                sent, st = ours.step(sender, rate, args.seconds)
            else:
                sent, st = nfcapd_step(sender, rate, args.seconds, args.rcvbuf)
            ok = lossless(sent, st, args.max_lag)
            say(
                f"{side:13} {rate:12.0f} {sent.rate:10.0f} {sent.flows / sent.elapsed:13.0f}"
                f" {sent.flows:11d} {st.received:11d} {sent.flows - st.received:8d}"
                f" {st.kernel_drops:6d} {st.other_drops:6d} {st.lag:6.2f}  {'yes' if ok else 'NO'}"
            )
            if not ok:
                break
            best = sent.flows / sent.elapsed
    finally:
        if ours is not None:
            ours.stop()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default=DEFAULT_RATES, help="datagrams/s per step")
    parser.add_argument("--seconds", type=float, default=5.0, help="send time per step")
    parser.add_argument("--rcvbuf", type=int, default=32 << 20, help="SO_RCVBUF, both sides")
    parser.add_argument("--rmem-max", type=int, default=32 << 20, help="0: leave it as is")
    parser.add_argument("--max-lag", type=float, default=1.0, help="catch-up allowed (s)")
    parser.add_argument("--pool", type=int, default=2048, help="datagrams per version")
    parser.add_argument("--sides", default="trafficatlas,nfcapd", help="receivers to run")
    parser.add_argument("--no-live", action="store_true", help="diagnostic: no live view")
    parser.add_argument(
        "--receiver", choices=("process", "thread"), default="process", help="receive where"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    sides = [s for s in ("trafficatlas", "nfcapd") if s in args.sides.split(",")]
    if "nfcapd" in sides and not (shutil.which("nfcapd") and shutil.which("nfdump")):
        sys.exit("nfcapd/nfdump not found: install Debian's nfdump package")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    traffic = build_traffic(np.random.default_rng(11), args.pool, 1 << 16)
    per = sum(traffic.flows) / len(traffic.flows)
    size = sum(map(len, traffic.datagrams)) / len(traffic.datagrams)
    say(f"{len(traffic.datagrams)} datagrams, v9/IPFIX alternating: {per:.0f} flows, {size:.0f} B")
    sender = Sender(traffic)
    best = dict.fromkeys(sides, 0.0)
    try:
        with rmem_max(args.rmem_max) as rmax:
            say(f"net.core.rmem_max={rmax}; both sides request SO_RCVBUF={args.rcvbuf}")
            say(
                "side           target dg/s  sent dg/s  sent flows/s  flows sent    received"
                "     lost  kdrop  other  lag s  lossless"
            )
            # one side after the other: an idle receiver's background work (flushes, GC) must
            # not take CPU from the other one
            for side in sides:
                cpu, wall = others_cpu_seconds(), time.monotonic()
                best[side] = run_side(side, sender, rates, args, say)
                cpu, wall = others_cpu_seconds() - cpu, time.monotonic() - wall
                say(
                    f"  other processes on the machine meanwhile: {max(cpu, 0) / wall:.0%} of a core"
                )
    finally:
        sender.close()
    ta, nf = best.get("trafficatlas", 0.0), best.get("nfcapd", 0.0)
    result = {
        "trafficatlas_noloss_flows_per_s": round(ta),
        "nfcapd_noloss_flows_per_s": round(nf),
        "ratio": round(ta / nf, 3) if nf else 0.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
