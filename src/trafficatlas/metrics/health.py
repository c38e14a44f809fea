"""Component health: pipeline, sources, store tiers, GeoIP databases, the process itself."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    UnknownMetricFamily,
)

from trafficatlas import __version__

if TYPE_CHECKING:
    from trafficatlas.runtime import Runtime

PIPELINE_COUNTERS: dict[str, str] = {
    "batches": "Source batches processed.",
    "flows": "Flows processed (classified, enriched, aggregated).",
    "dropped_batches": "Source batches dropped because the pipeline queue was full.",
    "dropped_flows": "Flows in dropped batches.",
    "process_errors": "Batches that failed processing (counted and skipped).",
    "flushes": "Flushes of closed buckets to the store.",
    "rows_written": "Aggregated rows handed to the store.",
    "store_errors": "Flushes the store refused (the rows of that flush are lost).",
}

# Source metrics that are levels, not totals.
SOURCE_GAUGES: dict[str, str] = {
    "queue_depth": "Items waiting in the source's queue.",
    "entries": "Entries in the last conntrack snapshot.",
    "tracked": "Connections held in the delta-accounting state.",
    "poll_duration_s": "Seconds the last poll took.",
    "read_duration_s": "Seconds the last poll spent waiting for data.",
}
SOURCE_COUNTERS: dict[str, str] = {
    "datagrams": "Datagrams received.",
    "dropped_datagrams": "Datagrams dropped before decoding (queue full).",
    "decoded_datagrams": "Datagrams decoded.",
    "flows": "Flows decoded.",
    "unknown_template": "Flow sets skipped because their template was not known yet.",
    "implausible_timestamps": "Flows whose timestamps were implausible (clamped).",
    "decode_seconds": "Seconds spent decoding.",
    "kernel_drops": "Datagrams the kernel dropped on the listening sockets.",
    "polls": "Polls completed.",
    "poll_failures": "Polls that failed.",
    "poll_duration_total_s": "Seconds spent polling.",
    "flows_emitted": "Flow rows emitted.",
    "event_overruns": "Times the kernel dropped events: final counters may be lost.",
    "vanished": "Connections gone without a final counter (last bytes lost).",
}
_ERROR_KEY = re.compile(r"^(?:decode_errors:|parse_errors_)(?P<kind>.+)$")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def _name(key: str) -> str:
    return _UNSAFE.sub("_", key).strip("_").lower() or "value"


def pipeline_families(runtime: Runtime) -> Iterator[Metric]:
    p = runtime.pipeline
    if p is None:
        return
    m = p.metrics
    for field, help_text in PIPELINE_COUNTERS.items():
        fam = CounterMetricFamily(f"trafficatlas_pipeline_{field}", help_text)
        fam.add_metric([], float(getattr(m, field)))
        yield fam
    fam = CounterMetricFamily(
        "trafficatlas_pipeline_process_seconds",
        "Seconds spent classifying, enriching, aggregating.",
    )
    fam.add_metric([], m.process_seconds)
    yield fam
    yield GaugeMetricFamily(
        "trafficatlas_pipeline_queue_depth",
        "Source batches waiting for the pipeline.",
        value=p.queue_depth(),
    )
    yield GaugeMetricFamily(
        "trafficatlas_pipeline_queue_capacity",
        "Pipeline queue size; beyond it batches drop.",
        value=p.settings.queue_batches,
    )
    since = m.last_flush_ts or runtime.started_at
    yield GaugeMetricFamily(
        "trafficatlas_store_flush_lag_seconds",
        "Seconds since the pipeline last flushed closed buckets to the store.",
        value=max(0.0, time.time() - since) if since else 0.0,
    )


def source_families(runtime: Runtime) -> Iterator[Metric]:
    """Every source's counters: known ones typed, decode/parse errors by kind, others untyped."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily | UnknownMetricFamily] = {}
    errors = CounterMetricFamily(
        "trafficatlas_source_decode_errors",
        "Datagrams, records or lines that could not be decoded, by source and kind.",
        labels=["source", "kind"],
    )
    for source, values in sorted(runtime.source_metrics().items()):
        for key, value in sorted(values.items()):
            err = _ERROR_KEY.match(key)
            if err:
                errors.add_metric([source, err.group("kind")], value)
                continue
            name = _name(key)
            fam: GaugeMetricFamily | CounterMetricFamily | UnknownMetricFamily
            if key in SOURCE_GAUGES:
                fam = families.setdefault(
                    name,
                    GaugeMetricFamily(
                        f"trafficatlas_source_{name}", SOURCE_GAUGES[key], labels=["source"]
                    ),
                )
            elif key in SOURCE_COUNTERS:
                fam = families.setdefault(
                    name,
                    CounterMetricFamily(
                        f"trafficatlas_source_{name}", SOURCE_COUNTERS[key], labels=["source"]
                    ),
                )
            else:
                fam = families.setdefault(
                    name,
                    UnknownMetricFamily(
                        f"trafficatlas_source_{name}",
                        f"The source's '{key}' value (see the source's documentation).",
                        labels=["source"],
                    ),
                )
            fam.add_metric([source], value)
    yield errors
    yield from families.values()


def store_families(runtime: Runtime) -> Iterator[Metric]:
    """Tier spans: the rollup watermark lag tells whether maintenance keeps up."""
    store = runtime.store
    up = GaugeMetricFamily("trafficatlas_store_up", "1 while the store is open.")
    up.add_metric([], 1.0 if store is not None else 0.0)
    yield up
    if store is None:
        return
    coverage = store.coverage()
    start = GaugeMetricFamily(
        "trafficatlas_store_tier_start_timestamp_seconds",
        "Oldest second each tier still holds (retention removed earlier rows).",
        labels=["tier"],
    )
    lag = GaugeMetricFamily(
        "trafficatlas_store_rollup_lag_seconds",
        "Seconds between now and the rolled-up-until watermark of each coarse tier.",
        labels=["tier"],
    )
    now = time.time()
    for t in coverage.tiers:
        start.add_metric([t.name], t.start)
        if t.end is not None:
            lag.add_metric([t.name], max(0.0, now - t.end))
    yield start
    yield lag


def geoip_families(runtime: Runtime) -> Iterator[Metric]:
    if runtime.geo is None:
        return
    built = GaugeMetricFamily(
        "trafficatlas_geoip_database_build_timestamp_seconds",
        "Build time of each loaded GeoIP/ASN database.",
        labels=["database"],
    )
    age = GaugeMetricFamily(
        "trafficatlas_geoip_database_age_seconds",
        "Seconds since each loaded GeoIP/ASN database was built (update when it grows old).",
        labels=["database"],
    )
    nets = GaugeMetricFamily(
        "trafficatlas_geoip_database_networks",
        "Networks in each loaded GeoIP/ASN database.",
        labels=["database"],
    )
    now = time.time()
    for d in runtime.geo.databases():
        if d.build_epoch:
            built.add_metric([d.name], d.build_epoch)
            age.add_metric([d.name], max(0.0, now - d.build_epoch))
        nets.add_metric([d.name], d.networks)
    yield built
    yield age
    yield nets


def process_families(runtime: Runtime) -> Iterator[Metric]:
    info = GaugeMetricFamily(
        "trafficatlas_build_info", "The running version (value 1).", labels=["version"]
    )
    info.add_metric([__version__], 1)
    yield info
    yield GaugeMetricFamily(
        "trafficatlas_start_time_seconds",
        "When the runtime started (epoch seconds).",
        value=runtime.started_at,
    )


SPOOL_COUNTERS: dict[str, str] = {
    "spooled_batches": "Batches written to the spool while the store was unreachable.",
    "spooled_rows": "Rows in batches written to the spool.",
    "replayed_batches": "Spooled batches the store accepted on replay.",
    "replayed_rows": "Rows in spooled batches the store accepted on replay.",
    "dropped_batches": "Oldest spooled batches dropped to stay within store.spool.max_bytes "
    "(their rows are lost).",
    "dropped_rows": "Rows in dropped spool batches (lost).",
    "corrupt_files": "Unreadable spool files moved to <spool>/corrupt/.",
    "rejected_batches": "Spooled batches the store refused as invalid, moved to <spool>/rejected/.",
    "write_errors": "Batches the spool could not write (disk full, permissions); the pipeline "
    "keeps them in memory and retries.",
}


def spool_families(runtime: Runtime) -> Iterator[Metric]:
    """The collector's spool: backlog, what was spooled, replayed, dropped; store reachability."""
    writer = runtime.writer
    if writer is None:
        return
    spool = writer.spool
    yield GaugeMetricFamily(
        "trafficatlas_spool_backlog_batches",
        "Batches waiting in the spool for the store.",
        value=spool.backlog_batches,
    )
    yield GaugeMetricFamily(
        "trafficatlas_spool_backlog_bytes",
        "Bytes of the batches waiting in the spool.",
        value=spool.backlog_bytes,
    )
    yield GaugeMetricFamily(
        "trafficatlas_spool_capacity_bytes",
        "store.spool.max_bytes: beyond it the oldest batches are dropped.",
        value=spool.max_bytes,
    )
    for field, help_text in SPOOL_COUNTERS.items():
        fam = CounterMetricFamily(f"trafficatlas_spool_{field}", help_text)
        fam.add_metric([], float(getattr(spool.metrics, field)))
        yield fam
    yield GaugeMetricFamily(
        "trafficatlas_store_reachable",
        "1 when the last write or connection attempt reached the shared store, else 0.",
        value=1.0 if writer.available else 0.0,
    )
    yield GaugeMetricFamily(
        "trafficatlas_spool_last_error_timestamp_seconds",
        "When the store last failed (0: never since start).",
        value=writer.last_error_ts,
    )
    info = GaugeMetricFamily(
        "trafficatlas_spool_last_error_info",
        "Kind of the store's last failure (value 1; the message is in the log).",
        labels=["kind"],
    )
    if writer.last_error_kind:
        info.add_metric([writer.last_error_kind], 1)
    yield info
