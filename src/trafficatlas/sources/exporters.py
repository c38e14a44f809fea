"""What the decoder knows about each exporter: templates, held-back data sets, options metadata.

The version scanners call into :class:`ExporterTable` for every template record and data set:
templates are cached per (exporter address, version, observation domain / source id), refreshed
or replaced, withdrawn and expired; data sets whose template is unknown wait in a bounded
per-exporter buffer until it arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trafficatlas.sources.options import OptionsLayout, apply_options
from trafficatlas.sources.state import (
    BatchContext,
    DecoderCounters,
    ExporterRegistry,
    ExporterState,
    InterfaceCounters,
    PendingSet,
    TemplateEntry,
    TemplateKey,
)
from trafficatlas.sources.templates import DataLayout, fixed_part

if TYPE_CHECKING:
    from trafficatlas.sources.decode import DecoderSettings


@dataclass(frozen=True, slots=True)
class ExporterInfo:
    """Metadata the decoder keeps about one exporter."""

    address: str
    exporter_id: int
    templates: int
    options_sampling_rates: dict[tuple[int, int], int]  # (version, domain) -> rate
    interface_names: dict[int, str]
    sflow_agents: list[str]
    sflow_interfaces: dict[int, InterfaceCounters]
    pending_sets: int


class ExporterTable:
    """Per-exporter state of one decoder; every change is counted in ``counters``."""

    def __init__(
        self, settings: DecoderSettings, counters: DecoderCounters, registry: ExporterRegistry
    ) -> None:
        self.settings = settings
        self.counters = counters
        self.registry = registry
        self._exporters: dict[str, ExporterState] = {}

    def get(self, address: str) -> ExporterState:
        """The state of the exporter at ``address`` (created on first sight)."""
        exp = self._exporters.get(address)
        if exp is not None:
            return exp
        s = self.settings
        exp = ExporterState(
            address=address,
            exporter_id=self.registry.id_for(address),
            default_rate=s.sampling_rates.get(address, s.default_sampling_rate),
            override_rate=s.sampling_overrides.get(address, 0),
        )
        self._exporters[address] = exp
        return exp

    def info(self, address: str) -> ExporterInfo | None:
        """What is known about the exporter at ``address``."""
        exp = self._exporters.get(address)
        if exp is None:
            return None
        return ExporterInfo(
            address=exp.address,
            exporter_id=exp.exporter_id,
            templates=len(exp.templates),
            options_sampling_rates=dict(exp.options_rates),
            interface_names=dict(exp.interface_names),
            sflow_agents=sorted(exp.sflow_agents.values()),
            sflow_interfaces=dict(exp.sflow_interfaces),
            pending_sets=exp.pending_count,
        )

    def addresses(self) -> list[str]:
        """Addresses of every exporter seen."""
        return list(self._exporters)

    def __iter__(self) -> Iterator[ExporterState]:
        return iter(self._exporters.values())

    # --- templates (called by the version scanners) ------------------------------------------

    def refresh(
        self,
        exp: ExporterState,
        key: TemplateKey,
        data: bytes,
        off: int,
        arrival: float,
        options: bool,
    ) -> int:
        """If the template record at ``off`` repeats the known one, refresh it; returns its end."""
        entry = exp.templates.get(key)
        if entry is None or isinstance(entry.layout, OptionsLayout) != options:
            return 0
        if not data.startswith(entry.raw, off):
            return 0
        entry.last_seen = arrival
        self.counters.templates += 1
        return off + len(entry.raw)

    def add_template(
        self,
        exp: ExporterState,
        key: TemplateKey,
        layout: DataLayout | OptionsLayout,
        raw: bytes,
        arrival: float,
        ctx: BatchContext,
    ) -> None:
        """Store a new or changed template and decode the data sets that waited for it."""
        self.counters.templates += 1
        if key not in exp.templates and len(exp.templates) >= self.settings.max_templates:
            self.counters.error("template_limit")
            return
        if isinstance(layout, DataLayout) and (layout.fixed or layout).reclen == 0:
            self.counters.error("bad_template")  # nothing but variable-length fields
            return
        exp.templates[key] = TemplateEntry(layout, raw, arrival)
        if exp.pending_count and key in exp.pending:
            self._release(exp, key, arrival, ctx)

    def withdraw(
        self, exp: ExporterState, version: int, domain: int, tid: int | None, options: bool
    ) -> None:
        """Withdraw one template, or (``tid`` None) all data or all options templates."""
        if tid is not None:
            keys = [(version, domain, tid)] if (version, domain, tid) in exp.templates else []
        else:
            keys = [
                k
                for k, e in exp.templates.items()
                if k[:2] == (version, domain) and isinstance(e.layout, OptionsLayout) == options
            ]
        for key in keys:
            del exp.templates[key]
        self.counters.templates_withdrawn += len(keys)

    def data_set(
        self,
        exp: ExporterState,
        key: TemplateKey,
        data: bytes,
        start: int,
        stop: int,
        dg: int,
        ctx: BatchContext,
    ) -> None:
        """Queue the records of one data set (or hold it back until its template arrives)."""
        entry = exp.templates.get(key)
        meta = ctx.meta[dg]
        if entry is not None and meta[1] - entry.last_seen > self.settings.template_timeout_s:
            del exp.templates[key]
            self.counters.templates_expired += 1
            entry = None
        if entry is None:
            self._hold(exp, key, PendingSet(data[start:stop], meta[1], meta[2], meta[3]))
            return
        layout = entry.layout
        if isinstance(layout, OptionsLayout):
            self._options(exp, key, entry, layout, data[start:stop])
        elif layout.fixed is not None:
            payload, count, truncated = fixed_part(layout, data, start, stop)
            if truncated:
                self.counters.error("truncated")
            elif not count and stop > start:
                self.counters.error("bad_length")  # shorter than one record
            if count:
                ctx.add_records(layout.fixed, payload, count, dg)
        else:
            count = (stop - start) // layout.reclen
            if count:
                ctx.add_records(layout, data[start : start + count * layout.reclen], count, dg)
            elif stop > start:
                self.counters.error("bad_length")  # shorter than one record

    def _options(
        self,
        exp: ExporterState,
        key: TemplateKey,
        entry: TemplateEntry,
        layout: OptionsLayout,
        payload: bytes,
    ) -> None:
        if payload == entry.last_payload:  # exporters resend the same options over and over
            self.counters.options_records += entry.last_count
            return
        records, truncated = layout.records(payload, 0, len(payload))
        if truncated:
            self.counters.error("truncated")
        for rec in records:
            apply_options(exp, key[0], key[1], rec)
        self.counters.options_records += len(records)
        entry.last_payload, entry.last_count = payload, len(records)

    # --- data sets waiting for their template ------------------------------------------------

    def _hold(self, exp: ExporterState, key: TemplateKey, pending: PendingSet) -> None:
        limit = self.settings.pending_sets
        if limit == 0:
            self.counters.unknown_template += 1
            return
        if exp.pending_count >= limit:
            oldest = min(exp.pending, key=lambda k: exp.pending[k][0].arrival)
            self._drop_pending(exp, oldest, 1)
        exp.pending.setdefault(key, deque()).append(pending)
        exp.pending_count += 1
        self.counters.buffered_sets += 1

    def _drop_pending(self, exp: ExporterState, key: TemplateKey, n: int) -> None:
        queue = exp.pending[key]
        for _ in range(min(n, len(queue))):
            queue.popleft()
            exp.pending_count -= 1
            self.counters.unknown_template += 1
        if not queue:
            del exp.pending[key]

    def _release(self, exp: ExporterState, key: TemplateKey, now: float, ctx: BatchContext) -> None:
        queue = exp.pending.pop(key)
        exp.pending_count -= len(queue)
        version, domain, _ = key
        for p in queue:
            if now - p.arrival > self.settings.pending_max_age_s:
                self.counters.unknown_template += 1
                continue
            dg = ctx.add_datagram(exp, version, domain, p.arrival, p.export_s, p.uptime_ms)
            self.data_set(exp, key, p.payload, 0, len(p.payload), dg, ctx)

    def expire(self, now: float) -> None:
        """Forget templates not refreshed in time and drop data sets that waited too long."""
        timeout = self.settings.template_timeout_s
        max_age = self.settings.pending_max_age_s
        for exp in self._exporters.values():
            stale = [k for k, e in exp.templates.items() if now - e.last_seen > timeout]
            for key in stale:
                del exp.templates[key]
            self.counters.templates_expired += len(stale)
            for key in list(exp.pending):
                queue = exp.pending[key]
                old = sum(1 for p in queue if now - p.arrival > max_age)
                if old:
                    self._drop_pending(exp, key, old)

    def flush_pending(self) -> None:
        """Give up on all held-back data sets (counted as unknown_template), e.g. at capture end."""
        for exp in self._exporters.values():
            for key in list(exp.pending):
                self._drop_pending(exp, key, len(exp.pending[key]))
