"""The demo: a real runtime on a temporary data dir, fed over loopback by a NetFlow generator.

History is prefilled through the same pipeline (classify → enrich → aggregate → store), then a
generator thread exports live NetFlow v9 datagrams to the runtime's own collector on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from trafficatlas.demo.exportgen import ExportEncoder, FlowSpec
from trafficatlas.demo.traffic import DestinationPool, TrafficModel
from trafficatlas.flowbatch import FlowBatch
from trafficatlas.logging import get_logger
from trafficatlas.runtime import Runtime
from trafficatlas.sources.base import SourceBatch

log = get_logger("demo")

DEMO_EXPORTER = "127.0.0.1"
DEMO_CLASSIFY = {
    "local_networks": [
        {"cidr": "10.8.0.0/24", "label": "vpn", "name": "demo VPN"},
        {"cidr": "192.168.1.0/24", "label": "lan", "name": "demo LAN"},
        {"cidr": "fd00:8::/64", "label": "vpn", "name": "demo VPN (IPv6)"},
    ]
}


def spec_to_batch(spec: FlowSpec, exporter: int = 1, weight: int = 1) -> FlowBatch:
    """The FlowBatch a collector would decode from ``spec`` (for prefilling history).

    Each record carries the bytes and packets of ``weight`` flows (a flow count of 1 is kept, so
    the pipeline's and the store's flow counts agree).
    """
    w = np.uint64(weight)
    return FlowBatch.from_columns(
        len(spec),
        ts=spec.end_ms / 1000.0,
        ts_start=spec.start_ms / 1000.0,
        exporter=exporter,
        in_if=spec.in_if,
        out_if=spec.out_if,
        ip_version=spec.version,
        proto=spec.proto,
        src_hi=spec.src_hi,
        src_lo=spec.src_lo,
        dst_hi=spec.dst_hi,
        dst_lo=spec.dst_lo,
        sport=spec.sport,
        dport=spec.dport,
        bytes=spec.bytes * w,
        packets=spec.packets * w,
    )


def make_model(seed: int = 7, flows_per_s: float = 40.0, peers: int = 12) -> TrafficModel:
    """The demo's traffic model over the bundled ASN table's real networks."""
    from trafficatlas.enrich.bundled import load_bundled

    pool = DestinationPool.from_asn_table(load_bundled().asn, np.random.default_rng(seed))
    return TrafficModel(pool, peers=peers, flows_per_s=flows_per_s, seed=seed)


def prefill_history(
    runtime: Runtime,
    days: float,
    step_s: int = 3600,
    weight: int = 20,
    progress: Callable[[int, int], None] | None = None,
    now: float | None = None,
    flows_per_s: float = 40.0,
    peers: int = 12,
) -> int:
    """Push ``days`` of synthetic flows up to ``now`` through the pipeline; returns records.

    History matches the live traffic's byte rate (``flows_per_s``) with 1/``weight`` of the
    records, each carrying ``weight`` flows' bytes, so a few days prefill in seconds and the
    charts have no step where history meets live data.
    """
    pipeline = runtime.pipeline
    assert pipeline is not None
    model = make_model(seed=11, flows_per_s=flows_per_s / weight, peers=peers)
    end = now if now is not None else time.time()
    start = end - days * 86400
    steps = max(0, int(np.ceil((end - start) / step_s)))
    total = 0
    for i in range(steps):
        t0 = start + i * step_s
        spec = model.flows(t0, min(t0 + step_s, end))  # the last step is partial: up to now
        if len(spec):
            batch = spec_to_batch(spec, weight=weight)
            pipeline.process(SourceBatch("flowexport", batch, exporters={1: "history"}), live=False)
            total += len(batch)
        if i % 24 == 23 or i == steps - 1:
            pipeline.flush(now=end, force=True)
        if progress is not None:
            progress(i + 1, steps)
    runtime._maintain(end)  # roll the history up into the 1h/1d tiers now
    return total


class LiveExporter:
    """Sends NetFlow v9 for the model's live traffic to ``port`` on loopback, once a second."""

    def __init__(self, port: int, model: TrafficModel, version: int = 9) -> None:
        self.port = port
        self.model = model
        self.encoder = ExportEncoder(version=version, source_id=1)
        self.datagrams = 0
        self.flows = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-exporter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        target = ("127.0.0.1", self.port)
        last = time.time()
        last_template = 0.0
        try:
            while not self._stop.wait(1.0):
                now = time.time()
                now_ms = int(now * 1000)
                if now - last_template >= 30:
                    sock.sendto(self.encoder.template_datagram(now_ms), target)
                    self.datagrams += 1
                    last_template = now
                spec = self.model.flows(last, now)
                last = now
                for dg in self.encoder.data_datagrams(spec, now_ms):
                    sock.sendto(dg, target)
                    self.datagrams += 1
                self.flows += len(spec)
        finally:
            sock.close()


def summary(runtime: Runtime, exporter: LiveExporter | None) -> dict[str, Any]:
    """What the demo did, for its closing lines and its test."""
    p = runtime.pipeline
    out: dict[str, Any] = {
        "pipeline_flows": p.metrics.flows if p else 0,
        "rows_written": p.metrics.rows_written if p else 0,
        "dropped_batches": p.metrics.dropped_batches if p else 0,
    }
    if exporter is not None:
        out["sent_datagrams"] = exporter.datagrams
        out["sent_flows"] = exporter.flows
    for name, metrics in runtime.source_metrics().items():
        out[name] = metrics
    return out
