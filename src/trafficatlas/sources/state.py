"""Decoder state: counters, per-exporter state and the per-batch collection of record sets.

The version scanners (v5, v9, IPFIX, sFlow) walk each datagram in Python only far enough to find
its record sets; the raw bytes of every data set are appended to a :class:`BatchContext` group
keyed by the compiled template layout, and decoded for the whole batch at once with NumPy.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trafficatlas.sources.options import OptionsLayout
    from trafficatlas.sources.templates import DataLayout

# Keys of the per-exporter template cache: (version, observation domain / source id, template id).
TemplateKey = tuple[int, int, int]
# Per-datagram values repeated onto every record of the datagram:
# (source index, arrival time, export time, sysUptime ms, rate announced in the header).
DatagramMeta = tuple[int, float, float, int, int]


@dataclass(slots=True)
class DecoderCounters:
    """Monotonic counters of one decoder (exported as metrics by the collector)."""

    datagrams: int = 0
    flows: int = 0  # flow rows produced (a biflow record with both directions gives two)
    options_records: int = 0
    templates: int = 0  # template records received (refreshes included)
    templates_withdrawn: int = 0
    templates_expired: int = 0
    buffered_sets: int = 0  # data sets that arrived before their template and were held back
    unknown_template: int = 0  # data sets dropped because their template never arrived
    implausible_timestamps: int = 0  # flows whose times fell back to the arrival time
    non_ip_records: int = 0  # records/samples without IP addresses (not flows)
    sflow_samples: int = 0
    counter_samples: int = 0
    by_version: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # decode errors by kind

    def error(self, kind: str, n: int = 1) -> None:
        """Count ``n`` decode errors of ``kind`` (a short stable label)."""
        self.errors[kind] = self.errors.get(kind, 0) + n

    def total_errors(self) -> int:
        """Sum of all decode errors."""
        return sum(self.errors.values())


@dataclass(slots=True)
class TemplateEntry:
    """One template an exporter announced, with the time it was last (re)sent."""

    layout: DataLayout | OptionsLayout
    raw: bytes  # the template record as sent: a resend with equal bytes only refreshes it
    last_seen: float
    last_payload: bytes = b""  # options templates: the last data set, to skip identical resends
    last_count: int = 0


@dataclass(slots=True)
class PendingSet:
    """A data set held back until its template arrives (with its datagram's values)."""

    payload: bytes
    arrival: float
    export_s: float
    uptime_ms: int


@dataclass(slots=True)
class InterfaceCounters:
    """The latest sFlow generic interface counters of one interface."""

    ts: float
    if_index: int
    speed: int
    in_octets: int
    in_packets: int
    in_errors: int
    in_discards: int
    out_octets: int
    out_packets: int
    out_errors: int
    out_discards: int


@dataclass(slots=True, eq=False)
class ExporterState:
    """What the decoder knows about one exporter (keyed by its address)."""

    address: str
    exporter_id: int
    default_rate: int  # used when the exporter announces no sampling rate
    override_rate: int  # 0, or a rate that replaces whatever the exporter announces
    templates: dict[TemplateKey, TemplateEntry] = field(default_factory=dict)
    # Sampling rates from options records: per (version, domain) and per sampler/selector id.
    options_rates: dict[tuple[int, int], int] = field(default_factory=dict)
    sampler_rates: dict[TemplateKey, int] = field(default_factory=dict)
    system_init_ms: dict[tuple[int, int], int] = field(default_factory=dict)
    interface_names: dict[int, str] = field(default_factory=dict)
    sflow_interfaces: dict[int, InterfaceCounters] = field(default_factory=dict)
    sflow_agents: dict[bytes, str] = field(default_factory=dict)  # raw agent address -> text
    pending: dict[TemplateKey, deque[PendingSet]] = field(default_factory=dict)
    pending_count: int = 0


class ExporterRegistry:
    """Stable small integer ids for exporter addresses (the FlowBatch ``exporter`` column)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._addresses: list[str] = []

    def id_for(self, address: str) -> int:
        """The id of ``address``, assigning the next one (from 1) on first sight."""
        found = self._ids.get(address)
        if found is None:
            self._addresses.append(address)
            found = self._ids[address] = len(self._addresses)
        return found

    def address_of(self, exporter_id: int) -> str | None:
        """The address registered under ``exporter_id``, or None."""
        if 1 <= exporter_id <= len(self._addresses):
            return self._addresses[exporter_id - 1]
        return None

    def items(self) -> list[tuple[int, str]]:
        """All (id, address) pairs."""
        return [(i + 1, a) for i, a in enumerate(self._addresses)]


@dataclass(slots=True)
class Group:
    """Raw record bytes of every data set of one layout in the batch."""

    chunks: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    datagrams: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SFlowRows:
    """sFlow flow samples collected from a batch, decoded together at the end."""

    datagrams: list[int] = field(default_factory=list)
    rates: list[int] = field(default_factory=list)
    in_if: list[int] = field(default_factory=list)
    out_if: list[int] = field(default_factory=list)
    frame_len: list[int] = field(default_factory=list)
    stripped: list[int] = field(default_factory=list)
    link: list[int] = field(default_factory=list)  # pcap link type of the sampled header
    headers: list[bytes] = field(default_factory=list)


class BatchContext:
    """Everything collected from one batch of datagrams before the vectorized decode."""

    __slots__ = ("groups", "meta", "sflow", "source_index", "sources")

    def __init__(self) -> None:
        self.groups: dict[DataLayout, Group] = {}
        self.meta: list[DatagramMeta] = []
        self.sources: list[tuple[ExporterState, int, int]] = []  # (exporter, version, domain)
        self.source_index: dict[tuple[ExporterState, int, int], int] = {}
        self.sflow = SFlowRows()

    def add_datagram(
        self,
        exporter: ExporterState,
        version: int,
        domain: int,
        arrival: float,
        export_s: float,
        uptime_ms: int,
        rate: int = 0,
    ) -> int:
        """Register one datagram's values; returns its index for :meth:`add_records`."""
        key = (exporter, version, domain)
        src = self.source_index.get(key)
        if src is None:
            src = self.source_index[key] = len(self.sources)
            self.sources.append(key)
        self.meta.append((src, arrival, export_s, uptime_ms, rate))
        return len(self.meta) - 1

    def add_records(self, layout: DataLayout, payload: bytes, count: int, datagram: int) -> None:
        """Queue ``count`` fixed-length records of ``layout`` from one datagram."""
        group = self.groups.get(layout)
        if group is None:
            group = self.groups[layout] = Group()
        group.chunks.append(payload)
        group.counts.append(count)
        group.datagrams.append(datagram)
