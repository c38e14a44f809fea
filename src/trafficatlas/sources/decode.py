"""FlowDecoder: NetFlow v5/v9, IPFIX and sFlow v5 datagrams → FlowBatch, with per-exporter state.

Per datagram, Python only walks the set headers and queues raw record bytes per template layout;
the records of a whole batch are then decoded with one ``np.frombuffer`` per layout. Template
caches are kept per (exporter address, version, observation domain / source id); data sets that
arrive before their template wait briefly (bounded) and are decoded when it arrives. Nothing
raises out of :meth:`FlowDecoder.decode_many`: bad input is counted in :class:`DecoderCounters`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.logging import get_logger
from trafficatlas.section import Section
from trafficatlas.sources.exporters import ExporterInfo, ExporterTable
from trafficatlas.sources.ipfix import scan_ipfix
from trafficatlas.sources.netflow_v5 import scan_v5
from trafficatlas.sources.netflow_v9 import scan_v9
from trafficatlas.sources.records import RowValues, decode_group
from trafficatlas.sources.sflow import SFlowBytes, finish_sflow, scan_sflow
from trafficatlas.sources.state import (
    BatchContext,
    DecoderCounters,
    ExporterRegistry,
    ExporterState,
)

log = get_logger("decoder")

Datagram = tuple[bytes, str, float]  # payload, exporter address, arrival time (epoch seconds)
Scanner = Callable[[ExporterTable, bytes, ExporterState, float, BatchContext], None]
_SCANNERS: dict[int, tuple[str, Scanner]] = {
    5: ("netflow_v5", scan_v5),
    9: ("netflow_v9", scan_v9),
    10: ("ipfix", scan_ipfix),
}
_SWEEP_EVERY_S = 5.0


class DecoderSettings(Section):
    """Flow decoder settings (template life, buffering, timestamps, sampling)."""

    # A template not refreshed for this long is forgotten (RFC 7011 §8.4 for UDP).
    template_timeout_s: float = Field(default=1800.0, gt=0)
    # Data sets per exporter held back until their template arrives, and for how long.
    pending_sets: int = Field(default=128, ge=0)
    pending_max_age_s: float = Field(default=60.0, gt=0)
    max_templates: int = Field(default=4096, ge=1)  # per exporter
    # Flow end times further than this past the arrival time are implausible.
    future_tolerance_s: float = Field(default=86400.0, ge=0)
    default_sampling_rate: int = Field(default=1, ge=1)
    # Per exporter address: rate when the exporter announces none / rate that replaces its own.
    sampling_rates: dict[str, int] = Field(default_factory=dict)
    sampling_overrides: dict[str, int] = Field(default_factory=dict)
    sflow_bytes: SFlowBytes = "frame_minus_stripped"

    @field_validator("sampling_rates", "sampling_overrides")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        for address, rate in value.items():
            if not 1 <= rate <= 0xFFFF_FFFF:
                raise ValueError(f"sampling rate for {address} must be 1..4294967295")
        return value


class FlowDecoder:
    """Decodes batches of exported datagrams into FlowBatches, keeping exporter state."""

    def __init__(
        self, settings: DecoderSettings | None = None, registry: ExporterRegistry | None = None
    ) -> None:
        self.settings = settings or DecoderSettings()
        self.registry = registry or ExporterRegistry()
        self.counters = DecoderCounters()
        self.exporters = ExporterTable(self.settings, self.counters, self.registry)
        self._next_sweep = 0.0

    def decode(self, data: bytes, exporter: str, arrival: float) -> FlowBatch:
        """Decode one datagram."""
        return self.decode_many([(data, exporter, arrival)])

    def decode_many(self, datagrams: Iterable[Datagram]) -> FlowBatch:
        """Decode datagrams in arrival order; never raises for bad input (it is counted)."""
        ctx = BatchContext()
        counters = self.counters
        table = self.exporters
        by_version = counters.by_version
        latest = 0.0
        scanner: Scanner
        for data, address, arrival in datagrams:
            counters.datagrams += 1
            latest = max(latest, arrival)
            if type(data) is not bytes:
                data = bytes(data)
            if len(data) < 4:
                counters.error("truncated")
                continue
            version = (data[0] << 8) | data[1]
            if version == 0 and data[2] == 0 and data[3] == 5:
                name, scanner = "sflow", scan_sflow
            elif version in _SCANNERS:
                name, scanner = _SCANNERS[version]
            else:
                counters.error("bad_version")
                continue
            by_version[name] = by_version.get(name, 0) + 1
            exp = table.get(address)
            try:
                scanner(table, data, exp, arrival, ctx)
            except Exception:  # a bug must not stop the collector: count it, log it
                counters.error("internal")
                log.exception("datagram decode failed", exporter=address, size=len(data))
        if latest >= self._next_sweep:
            table.expire(latest)
            self._next_sweep = latest + _SWEEP_EVERY_S
        try:
            batch = self._finish(ctx)
        except Exception:
            counters.error("internal")
            log.exception("batch decode failed", datagrams=len(ctx.meta))
            batch = FlowBatch.empty(0)
        counters.flows += len(batch)
        return batch

    def exporter_info(self, address: str) -> ExporterInfo | None:
        """What is known about the exporter at ``address``."""
        return self.exporters.info(address)

    def expire(self, now: float) -> None:
        """Forget templates not refreshed in time and drop data sets that waited too long."""
        self.exporters.expire(now)

    def flush_pending(self) -> None:
        """Give up on all held-back data sets (counted as unknown_template), e.g. at capture end."""
        self.exporters.flush_pending()

    def _finish(self, ctx: BatchContext) -> FlowBatch:
        if not ctx.meta:
            return FlowBatch.empty(0)
        meta = np.array(ctx.meta, dtype=np.float64)
        tables = _SourceTables(ctx)
        parts: list[FlowBatch] = []
        future = self.settings.future_tolerance_s
        for layout, group in ctx.groups.items():
            buf = group.chunks[0] if len(group.chunks) == 1 else b"".join(group.chunks)
            records = np.frombuffer(buf, dtype=layout.dtype)
            dgs = np.repeat(np.asarray(group.datagrams, dtype=np.intp), group.counts)
            result = decode_group(
                layout, records, tables.rows(meta, dgs), tables.sampler_rates, future
            )
            self.counters.implausible_timestamps += result.implausible
            self.counters.non_ip_records += result.non_ip
            if result.batch is not None:
                parts.append(result.batch)
        if ctx.sflow.headers:
            dgs = np.asarray(ctx.sflow.datagrams, dtype=np.intp)
            batch, non_ip = finish_sflow(
                ctx.sflow, tables.rows(meta, dgs), self.settings.sflow_bytes
            )
            self.counters.non_ip_records += non_ip
            if batch is not None:
                parts.append(batch)
        return FlowBatch.concat(parts)


class _SourceTables:
    """Per-source (exporter, version, domain) values of one batch, as arrays."""

    def __init__(self, ctx: BatchContext) -> None:
        self.sources = ctx.sources
        self.exporter = np.array([e.exporter_id for e, _, _ in ctx.sources], dtype=np.uint32)
        self.rate = np.array(
            [e.options_rates.get((v, d)) or e.default_rate for e, v, d in ctx.sources],
            dtype=np.uint64,
        )
        self.override = np.array([e.override_rate for e, _, _ in ctx.sources], dtype=np.uint64)
        self.sysinit = np.array(
            [e.system_init_ms.get((v, d), math.nan) for e, v, d in ctx.sources], dtype=np.float64
        )

    def rows(self, meta: npt.NDArray[np.float64], dgs: npt.NDArray[np.intp]) -> RowValues:
        m = meta[dgs]
        src = m[:, 0].astype(np.intp)
        return RowValues(
            source=src,
            exporter=self.exporter[src],
            arrival=m[:, 1],
            export_s=m[:, 2],
            uptime_ms=m[:, 3].astype(np.int64),
            header_rate=m[:, 4].astype(np.uint64),
            source_rate=self.rate[src],
            override=self.override[src],
            sysinit_ms=self.sysinit[src],
        )

    def sampler_rates(
        self, source: npt.NDArray[np.intp], ids: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.uint64]:
        """Rates announced in options data for (source, sampler id) pairs; 0 when unknown."""
        out = np.zeros(len(ids), dtype=np.uint64)
        pairs = np.unique(np.stack([source.astype(np.uint64), ids]), axis=1)
        for s, sampler in pairs.T.tolist():
            exp, version, domain = self.sources[int(s)]
            rate = exp.sampler_rates.get((version, domain, int(sampler)), 0)
            if rate:
                out[(source == s) & (ids == sampler)] = rate
        return out
