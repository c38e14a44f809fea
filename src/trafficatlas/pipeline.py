"""The running pipeline: sources → classify → enrich → aggregate → store, one way.

Sources hand SourceBatches to :meth:`Pipeline.submit` (thread-safe, bounded: a full queue drops
the batch and counts it, memory never grows without bound). One worker thread classifies,
enriches and aggregates; closed buckets are flushed to the store every ``flush_interval_s`` in
one transaction each; the store's maintenance (rollups, retention) runs on its own schedule.
:meth:`Pipeline.process` runs the same steps synchronously (offline analysis, tests).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.aggregator import Aggregator, bucket_ts
from trafficatlas.aggregate.groupby import group_sum
from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.classify.classifier import ClassifiedBatch, Classifier
from trafficatlas.enrich.countries import decode_country
from trafficatlas.enrich.engine import GeoColumns, GeoIP
from trafficatlas.enrich.special import label_name
from trafficatlas.flowbatch import Direction, FlowBatch
from trafficatlas.logging import get_logger
from trafficatlas.settings import PipelineSettings
from trafficatlas.sources.base import SourceBatch

log = get_logger("pipeline")

# A sink gets each flush with its id; a retried flush keeps its id, so the store never
# counts it twice.
RowsSink = Callable[[AggregateRows, str], None]
MAX_RETRY_FLUSHES = 1000
# Queued batches are merged up to this many flows before processing (see _process_queued).
MERGE_MAX_FLOWS = 1 << 18
EnrichedSink = Callable[["EnrichedBatch"], None]


@dataclass(slots=True)
class PipelineMetrics:
    batches: int = 0
    flows: int = 0
    dropped_batches: int = 0
    dropped_flows: int = 0
    process_errors: int = 0
    flushes: int = 0
    rows_written: int = 0
    store_errors: int = 0
    lost_flushes: int = 0  # flushes dropped after the retry backlog filled up
    last_flush_ts: float = 0.0
    process_seconds: float = 0.0


@dataclass(slots=True)
class EnrichedBatch:
    """A classified batch with the remote endpoint's geography, for live views."""

    source: str
    classified: ClassifiedBatch
    geo: GeoColumns  # rows of the whole batch (non-geolocated rows carry their label)
    exporters: dict[int, str] = field(default_factory=dict)


class Pipeline:
    """Classify, enrich and aggregate source batches; flush closed buckets to sinks."""

    def __init__(
        self,
        geo: GeoIP,
        classifier: Classifier,
        aggregator: Aggregator,
        sinks: list[RowsSink] | None = None,
        settings: PipelineSettings | None = None,
        peer_name: Callable[[int], str] | None = None,
        maintenance: Callable[[float], Any] | None = None,
        live: list[EnrichedSink] | None = None,
    ) -> None:
        self.geo = geo
        self.classifier = classifier
        self.aggregator = aggregator
        self.sinks = list(sinks or [])
        self.live = list(live or [])
        self.settings = settings or PipelineSettings()
        self.peer_name = peer_name or (lambda i: f"peer-{i}")
        self.maintenance = maintenance
        self.metrics = PipelineMetrics()
        self._queue: queue.Queue[SourceBatch] = queue.Queue(maxsize=self.settings.queue_batches)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry: list[tuple[str, AggregateRows]] = []

    # -- intake ------------------------------------------------------------------------------

    def submit(self, batch: SourceBatch) -> bool:
        """Queue a batch for the worker; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(batch)
            return True
        except queue.Full:
            self.metrics.dropped_batches += 1
            self.metrics.dropped_flows += len(batch.flows)
            return False

    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- processing --------------------------------------------------------------------------

    def enrich(self, batch: SourceBatch) -> EnrichedBatch:
        """Classify a batch and look up its remote endpoints."""
        cb = self.classifier.classify(batch.flows, batch.nat)
        geo = self.geo.lookup(cb.remote_version, cb.remote_hi, cb.remote_lo)
        # the classifier knows more (LOCAL for internal flows, own prefixes): its label wins
        geo.relabel(cb.remote_label)
        return EnrichedBatch(batch.source, cb, geo, dict(batch.exporters))

    def aggregate(self, batch: SourceBatch, eb: EnrichedBatch) -> AggregateRows:
        """Group an enriched batch into per-interval rows (fully vectorized)."""
        return aggregate_enriched(batch, eb, self.aggregator.interval_s, self.peer_name)

    def process(self, batch: SourceBatch, live: bool = True) -> AggregateRows:
        """Classify, enrich and aggregate one batch; rows go to the aggregator and are returned.

        ``live=False`` keeps the batch out of the live views (e.g. historical imports).
        """
        t0 = time.perf_counter()
        eb = self.enrich(batch)
        rows = self.aggregate(batch, eb)
        self.aggregator.add(rows)
        if live:
            for sink in self.live:
                try:
                    sink(eb)
                except Exception as exc:  # a live view or flow-detail failure is not fatal
                    self.metrics.store_errors += 1
                    log.error("live sink failed", error=str(exc))
        self.metrics.batches += 1
        self.metrics.flows += len(batch.flows)
        self.metrics.process_seconds += time.perf_counter() - t0
        return rows

    def flush(self, now: float | None = None, force: bool = False) -> AggregateRows:
        """Hand closed buckets (all buckets with ``force``) to the sinks.

        A flush a sink fails to take is kept (bounded) and offered again, with the same flush
        id, before the next one.
        """
        rows = self.aggregator.flush(time.time() if now is None else now, force=force)
        pending = self._retry
        self._retry = []
        if len(rows):
            pending.append((new_flush_id(), rows))
        for flush_id, part in pending:
            try:
                for sink in self.sinks:
                    sink(part, flush_id)
            except Exception as exc:  # a failing sink must not kill the pipeline
                self.metrics.store_errors += 1
                log.error("sink failed; will retry", error=str(exc), rows=len(part))
                if len(self._retry) < MAX_RETRY_FLUSHES:
                    self._retry.append((flush_id, part))
                else:
                    self.metrics.lost_flushes += 1
                continue
            self.metrics.flushes += 1
            self.metrics.rows_written += len(part)
        self.metrics.last_flush_ts = time.time()
        return rows

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain the queue, flush every bucket (graceful shutdown loses nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        self._drain()
        self.flush(force=True)

    def _drain(self) -> None:
        while True:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                return
            self._process_queued(batch)

    def _process_queued(self, first: SourceBatch) -> None:
        """Process ``first`` together with the batches queued behind it.

        Under load many small batches wait; one large batch costs much less than many small
        ones (every stage has a fixed cost per batch and per distinct key), so what is already
        queued is merged, never waited for.
        """
        waiting = [first]
        flows = len(first.flows)
        while flows < MERGE_MAX_FLOWS:
            try:
                batch = self._queue.get_nowait()
            except queue.Empty:
                break
            waiting.append(batch)
            flows += len(batch.flows)
        for batch, parts in merge_batches(waiting):
            self._safe_process(batch, parts)

    def _safe_process(self, batch: SourceBatch, parts: int = 1) -> None:
        try:
            self.process(batch)
            self.metrics.batches += parts - 1  # metrics count the batches sources submitted
        except Exception as exc:  # a bad batch is counted, never fatal to the worker
            self.metrics.process_errors += parts
            log.exception("batch processing failed", source=batch.source, error=str(exc))

    def _run(self) -> None:
        next_flush = time.monotonic() + self.settings.flush_interval_s
        next_maint = time.monotonic() + self.settings.maintenance_interval_s
        while not self._stop.is_set():
            try:
                batch = self._queue.get(timeout=0.2)
                self._process_queued(batch)
            except queue.Empty:
                pass
            now = time.monotonic()
            if now >= next_flush:
                self.flush()
                next_flush = now + self.settings.flush_interval_s
            if self.maintenance is not None and now >= next_maint:
                try:
                    self.maintenance(time.time())
                except Exception as exc:
                    log.error("store maintenance failed", error=str(exc))
                next_maint = now + self.settings.maintenance_interval_s


def merge_batches(batches: list[SourceBatch]) -> list[tuple[SourceBatch, int]]:
    """Consecutive batches of one source (without NAT data) merged; (batch, parts merged).

    A batch whose columns disagree in length (a source bug) stays alone, so that it fails by
    itself and the others are still processed.
    """
    out: list[tuple[SourceBatch, int]] = []
    run: list[SourceBatch] = []

    def close_run() -> None:
        if len(run) == 1:
            out.append((run[0], 1))
        elif run:
            exporters: dict[int, str] = {}
            interfaces: dict[tuple[int, int], str] = {}
            for b in run:
                exporters.update(b.exporters)
                interfaces.update(b.interfaces)
            flows = FlowBatch.concat([b.flows for b in run])
            out.append((SourceBatch(run[0].source, flows, None, exporters, interfaces), len(run)))
        run.clear()

    for batch in batches:
        if batch.nat is not None or not _consistent(batch.flows):
            close_run()
            out.append((batch, 1))
            continue
        if run and run[0].source != batch.source:
            close_run()
        run.append(batch)
    close_run()
    return out


def _consistent(flows: FlowBatch) -> bool:
    n = len(flows)
    return all(len(getattr(flows, name)) == n for name in FlowBatch.DTYPES)


def aggregate_enriched(
    batch: SourceBatch,
    eb: EnrichedBatch,
    interval_s: int,
    peer_name: Callable[[int], str],
) -> AggregateRows:
    """Per-interval AggregateRows of an enriched batch: integer keys first, strings per group."""
    f = eb.classified.flows
    geo = eb.geo
    inbound = f.direction == Direction.INBOUND
    interface = np.where(inbound, f.in_if, f.out_if).astype(np.uint32)
    keys: dict[str, npt.NDArray[Any]] = {
        "ts": bucket_ts(f.ts, interval_s),
        "exporter": f.exporter,
        "interface": interface,
        "peer": eb.classified.owner_id,
        "direction": f.direction,
        "ip_version": f.ip_version,
        "proto": f.proto,
        "country": geo.country,
        "label": geo.label,
        "city": geo.location_keys(),
        "asn": geo.asn_keys(),
    }
    vals = {
        "bytes": f.bytes,
        "packets": f.packets,
        "flows": f.flows.astype(np.uint64),
    }
    g, v = group_sum(keys, vals)
    m = len(g["ts"])
    layers = geo.layers
    cities: dict[tuple[str, str], tuple[float, float]] = {}
    as_orgs: dict[int, str] = {}

    city_names = map_unique(g["city"], lambda ck: layers.place(ck)[0], object)
    for ck, cc, name in zip(g["city"], g["country"], city_names, strict=True):
        key = (decode_country(int(cc)) or "", name)
        if name and key not in cities:
            _, lat, lon = layers.place(int(ck))
            if lat is not None and lon is not None:
                cities[key] = (lat, lon)
    names = dict(batch.exporters)
    iface_names = dict(batch.interfaces)
    iface_key = (g["exporter"].astype(np.int64) << 32) | g["interface"].astype(np.int64)
    return AggregateRows.build(
        m,
        ts=g["ts"],
        source=batch.source,
        exporter=map_unique(g["exporter"], lambda e: names.get(e, str(e) if e else ""), object),
        interface=map_unique(
            iface_key,
            lambda k: iface_names.get(
                (k >> 32, k & 0xFFFF_FFFF), str(k & 0xFFFF_FFFF) if k & 0xFFFF_FFFF else ""
            ),
            object,
        ),
        peer=map_unique(g["peer"], lambda p: peer_name(p) if p else "", object),
        direction=g["direction"],
        ip_version=g["ip_version"],
        proto=g["proto"],
        country=map_unique(g["country"], lambda c: decode_country(c) or "", object),
        label=map_unique(g["label"], lambda x: label_name(x) or "", object),
        city=city_names,
        asn=_asn_numbers(g["asn"], layers, as_orgs),
        bytes=v["bytes"],
        packets=v["packets"],
        flows=v["flows"],
        as_orgs=as_orgs,
        cities=cities,
    )


def _asn_numbers(
    asn_key: npt.NDArray[np.int64], layers: Any, as_orgs: dict[int, str]
) -> npt.NDArray[np.uint32]:
    """AS numbers of ``(database << 32) | record`` keys (-1 → 0); fills ``as_orgs``.

    Vectorized per database: a batch can hold thousands of distinct ASNs.
    """
    uniq, inv = np.unique(asn_key, return_inverse=True)
    numbers = np.zeros(len(uniq), dtype=np.uint32)
    known = uniq >= 0
    for db in np.unique(uniq[known] >> 32).tolist():
        sel = known & ((uniq >> 32) == db)
        recs = uniq[sel] & 0xFFFF_FFFF
        cols = layers.asn[db].table.records.columns
        asns = cols["asn"][recs]
        numbers[sel] = asns
        if "as_org" in cols:
            for asn, org in zip(asns.tolist(), cols["as_org"][recs].tolist(), strict=True):
                if org and asn not in as_orgs:
                    as_orgs[asn] = str(org)
    return numbers[inv.ravel()]


def map_unique(values: npt.NDArray[Any], fn: Callable[[int], Any], dtype: Any) -> npt.NDArray[Any]:
    """``fn`` applied once per distinct integer value, spread back to every row."""
    if not len(values):
        return np.zeros(0, dtype=dtype)
    uniq, inv = np.unique(values, return_inverse=True)
    mapped = np.array([fn(int(u)) for u in uniq], dtype=dtype)
    return mapped[inv.ravel()]


def flow_records(eb: EnrichedBatch, peer_name: Callable[[int], str]) -> Any:
    """Raw flow records (with addresses) of an enriched batch, for the store's flow detail."""
    from trafficatlas.store.flows import FlowRecords

    f = eb.classified.flows
    cb = eb.classified
    geo = eb.geo
    outbound_like = f.direction != Direction.INBOUND
    local_port = np.where(outbound_like, f.sport, f.dport)
    remote_port = np.where(outbound_like, f.dport, f.sport)
    names = eb.exporters
    return FlowRecords.build(
        len(f),
        ts=np.floor(f.ts).astype(np.int64),
        source=eb.source,
        exporter=map_unique(f.exporter, lambda e: names.get(e, str(e) if e else ""), object),
        interface=map_unique(
            np.where(f.direction == Direction.INBOUND, f.in_if, f.out_if),
            lambda i: str(i) if i else "",
            object,
        ),
        peer=map_unique(cb.owner_id, lambda p: peer_name(p) if p else "", object),
        direction=f.direction,
        ip_version=f.ip_version,
        proto=f.proto,
        country=map_unique(geo.country, lambda c: decode_country(c) or "", object),
        label=map_unique(geo.label, lambda x: label_name(x) or "", object),
        city=np.array([c or "" for c in geo.strings("city")], dtype=object),
        asn=geo.asn,
        local_addr=_addresses(f.ip_version, cb.local_hi, cb.local_lo),
        local_port=local_port,
        remote_addr=_addresses(cb.remote_version, cb.remote_hi, cb.remote_lo),
        remote_port=remote_port,
        bytes=f.bytes,
        packets=f.packets,
        flows=f.flows.astype(np.uint64),
    )


def _addresses(
    version: npt.NDArray[np.uint8], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[Any]:
    """Text addresses, formatted once per distinct address."""
    from trafficatlas.net import format_ip

    if not len(version):
        return np.zeros(0, dtype=object)
    key = np.stack([version.astype(np.uint64), hi, lo], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    texts = np.array([format_ip(int(v), int(h), int(lo_)) for v, h, lo_ in uniq], dtype=object)
    return texts[inv.ravel()]


def new_flush_id() -> str:
    """A unique id for one flush (the store ignores a flush id it has already written)."""
    return uuid.uuid4().hex
