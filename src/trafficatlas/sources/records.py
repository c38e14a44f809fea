"""Turn the decoded records of one template layout into FlowBatch columns, all vectorized.

Covers what every NetFlow v5/v9/IPFIX record needs: IPv4/IPv6 addresses, ports and ICMP type/code,
timestamps in any of the exporter conventions (with the plausibility fallback), the sampling rate
(flow fields, header, options data, per-exporter default and override) and RFC 5103 reverse
counters, which become a second flow in the reverse direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.sources.templates import DataLayout

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
YEAR_2000 = 946_684_800.0
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_MAPPED = np.uint64(0xFFFF)
_RATE_MAX = 0xFFFF_FFFF

SamplerLookup = Callable[[npt.NDArray[np.intp], U64], U64]


@dataclass(slots=True)
class RowValues:
    """Values of each record's datagram and exporter, one entry per record."""

    source: npt.NDArray[np.intp]
    exporter: npt.NDArray[np.uint32]
    arrival: F64
    export_s: F64
    uptime_ms: npt.NDArray[np.int64]
    header_rate: U64
    source_rate: U64  # options rate, else the exporter's default (override applied separately)
    override: U64
    sysinit_ms: F64  # NaN when the exporter has not announced it


@dataclass(slots=True)
class GroupResult:
    batch: FlowBatch | None
    implausible: int
    non_ip: int


def _first(layout: DataLayout, records: npt.NDArray[Any], *keys: str) -> U64 | None:
    for key in keys:
        if key in layout.keys:
            return layout.column(records, key)
    return None


def _ntp(value: U64) -> F64:
    secs = (value >> np.uint64(32)).astype(np.float64) - NTP_EPOCH_OFFSET
    return secs + (value & np.uint64(0xFFFF_FFFF)).astype(np.float64) / 4294967296.0


def _time(layout: DataLayout, records: npt.NDArray[Any], rows: RowValues, edge: str) -> F64 | None:
    col = layout.column
    keys = layout.keys
    if f"{edge}_ms" in keys:
        return col(records, f"{edge}_ms").astype(np.float64) / 1000.0
    if f"{edge}_s" in keys:
        return col(records, f"{edge}_s").astype(np.float64)
    for unit in ("us", "ns"):
        if f"{edge}_{unit}" in keys:
            return _ntp(col(records, f"{edge}_{unit}"))
    if f"{edge}_uptime" in keys:
        up = col(records, f"{edge}_uptime").astype(np.int64)
        if layout.version == 9:
            # sysUptime is a 32-bit ms counter that wraps every 49.7 days: the signed 32-bit
            # difference is the flow's age at export time (RFC 3954 relative timestamps).
            age = (rows.uptime_ms - up + (1 << 31)) % (1 << 32) - (1 << 31)
            return rows.export_s - age.astype(np.float64) / 1000.0
        init = rows.sysinit_ms
        if "sysinit_ms" in keys:
            init = col(records, "sysinit_ms").astype(np.float64)
        return (init + up.astype(np.float64)) / 1000.0  # NaN (implausible) when unknown
    if f"{edge}_delta_us" in keys:
        return rows.export_s - col(records, f"{edge}_delta_us").astype(np.float64) / 1e6
    return None


def flow_times(
    layout: DataLayout, records: npt.NDArray[Any], rows: RowValues, future_s: float
) -> tuple[F64, F64, Bool | None]:
    """(ts_start, ts, implausible mask or None); such and missing times become the arrival time."""
    start = _time(layout, records, rows, "start")
    end = _time(layout, records, rows, "end")
    if start is None and end is None:
        return rows.arrival, rows.arrival, None
    duration = _first(layout, records, "duration_ms")
    if start is None:
        assert end is not None
        start = end if duration is None else end - duration.astype(np.float64) / 1000.0
    if end is None:
        end = start if duration is None else start + duration.astype(np.float64) / 1000.0
    ok = (end >= start) & (start >= YEAR_2000) & (end <= rows.arrival + future_s)
    if ok.all():
        return start, end, None
    return np.where(ok, start, rows.arrival), np.where(ok, end, rows.arrival), ~ok


def sampling_rates(
    layout: DataLayout, records: npt.NDArray[Any], rows: RowValues, lookup: SamplerLookup
) -> U64:
    """Rate per record: override > flow fields > header > options > exporter default."""
    rate: U64 | None = None
    for key in ("rate_interval", "rate_random"):
        if key in layout.keys:
            value = layout.column(records, key)
            rate = value if rate is None else np.where(rate == 0, value, rate)
    if "pkt_interval" in layout.keys:
        interval = layout.column(records, "pkt_interval")
        space = _first(layout, records, "pkt_space")
        total = interval if space is None else interval + space
        safe = np.maximum(interval, np.uint64(1))
        value = np.where(interval > 0, (total + safe // np.uint64(2)) // safe, np.uint64(0))
        rate = value if rate is None else np.where(rate == 0, value, rate)
    sampler = _first(layout, records, "selector_id", "sampler_id")
    if sampler is not None:
        value = lookup(rows.source, sampler)
        rate = value if rate is None else np.where(rate == 0, value, rate)
    if rate is None:
        rate = np.where(rows.header_rate > 0, rows.header_rate, rows.source_rate)
    else:
        rate = np.where(
            rate > 0, rate, np.where(rows.header_rate > 0, rows.header_rate, rows.source_rate)
        )
    rate = np.where(rows.override > 0, rows.override, rate)
    return np.clip(rate, 1, _RATE_MAX).astype(np.uint64)


def _addresses(
    layout: DataLayout, records: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.uint8], U64, U64, U64, U64] | None:
    keys = layout.keys
    n = len(records)
    zero = np.zeros(n, dtype=np.uint64)
    has4 = "src4" in keys or "dst4" in keys
    has6 = "src6" in keys or "dst6" in keys
    if not (has4 or has6):
        return None
    s4 = layout.column(records, "src4") if "src4" in keys else zero
    d4 = layout.column(records, "dst4") if "dst4" in keys else zero
    s6 = records["src6"].astype(np.uint64) if "src6" in keys else np.zeros((n, 2), np.uint64)
    d6 = records["dst6"].astype(np.uint64) if "dst6" in keys else np.zeros((n, 2), np.uint64)
    if not has6:
        return np.full(n, 4, np.uint8), zero, s4, zero, d4
    is6 = (s4 == 0) & (d4 == 0) if has4 else np.ones(n, dtype=bool)
    if "ip_version" in keys:
        ver = layout.column(records, "ip_version")
        is6 = np.where(ver == 6, True, np.where(ver == 4, False, is6))
    s_hi, s_lo, d_hi, d_lo = s6[:, 0], s6[:, 1], d6[:, 0], d6[:, 1]
    # Both ends IPv4-mapped (::ffff:a.b.c.d): an IPv4 flow, as everywhere in the project.
    mapped = (
        is6
        & (s_hi == 0)
        & (d_hi == 0)
        & ((s_lo >> np.uint64(32)) == _MAPPED)
        & ((d_lo >> np.uint64(32)) == _MAPPED)
    )
    v6 = is6 & ~mapped
    low32 = np.uint64(0xFFFF_FFFF)
    src_lo = np.where(v6, s_lo, np.where(mapped, s_lo & low32, s4))
    dst_lo = np.where(v6, d_lo, np.where(mapped, d_lo & low32, d4))
    return (
        np.where(v6, 6, 4).astype(np.uint8),
        np.where(v6, s_hi, np.uint64(0)),
        src_lo,
        np.where(v6, d_hi, np.uint64(0)),
        dst_lo,
    )


def _icmp(layout: DataLayout, records: npt.NDArray[Any], prefix: str, family: str) -> U64 | None:
    code = _first(layout, records, f"{prefix}icmp{family}")
    if code is None and not prefix and f"icmp{family}_type" in layout.keys:
        typ = layout.column(records, f"icmp{family}_type")
        low = _first(layout, records, f"icmp{family}_code")
        code = (typ << np.uint64(8)) | (low if low is not None else np.uint64(0))
    return code


def decode_group(
    layout: DataLayout,
    records: npt.NDArray[Any],
    rows: RowValues,
    lookup: SamplerLookup,
    future_s: float,
) -> GroupResult:
    """FlowBatch rows for all records of one layout (forward, plus reverse for biflows)."""
    n = len(records)
    addrs = _addresses(layout, records)
    if addrs is None:
        return GroupResult(None, 0, n)
    version, src_hi, src_lo, dst_hi, dst_lo = addrs
    zero = np.zeros(n, dtype=np.uint64)
    proto = _first(layout, records, "proto")
    proto = zero if proto is None else proto
    sport = _first(layout, records, "sport", "tcp_sport", "udp_sport")
    dport = _first(layout, records, "dport", "tcp_dport", "udp_dport")
    sport = zero if sport is None else sport
    dport = zero if dport is None else dport
    for family, number in (("4", 1), ("6", 58)):
        code = _icmp(layout, records, "", family)
        if code is not None:
            # Some exporters send the field and the v5-style port: keep the port if it is 0.
            is_icmp = proto == number
            dport = np.where(is_icmp & (code != 0), code, dport)
            sport = np.where(is_icmp, np.uint64(0), sport)
    raw_bytes = _first(layout, records, "bytes", "bytes_total", "out_bytes")
    raw_packets = _first(layout, records, "packets", "packets_total", "out_packets")
    raw_bytes = zero if raw_bytes is None else raw_bytes
    raw_packets = zero if raw_packets is None else raw_packets
    flows = _first(layout, records, "flows")
    flows = np.ones(n, np.uint64) if flows is None else np.maximum(flows, np.uint64(1))
    in_if = _first(layout, records, "in_if")
    out_if = _first(layout, records, "out_if")
    in_if = zero if in_if is None else in_if
    out_if = zero if out_if is None else out_if
    flags = _first(layout, records, "tcp_flags")
    flags = zero if flags is None else flags & np.uint64(0xFF)
    ts_start, ts, bad_times = flow_times(layout, records, rows, future_s)
    implausible = 0 if bad_times is None else int(np.count_nonzero(bad_times))
    rate = sampling_rates(layout, records, rows, lookup)
    cols: dict[str, Any] = {
        "ts": ts,
        "ts_start": ts_start,
        "exporter": rows.exporter,
        "in_if": in_if,
        "out_if": out_if,
        "ip_version": version,
        "proto": proto,
        "src_hi": src_hi,
        "src_lo": src_lo,
        "dst_hi": dst_hi,
        "dst_lo": dst_lo,
        "sport": sport,
        "dport": dport,
        "tcp_flags": flags,
        "bytes": raw_bytes * rate,
        "packets": raw_packets * rate,
        "flows": flows,
        "sampling_rate": rate,
    }
    r_bytes = _first(layout, records, "r_bytes", "r_bytes_total")
    r_packets = _first(layout, records, "r_packets", "r_packets_total")
    if r_bytes is None and r_packets is None:
        return GroupResult(_batch(n, cols), implausible, 0)
    r_bytes = zero if r_bytes is None else r_bytes
    r_packets = zero if r_packets is None else r_packets
    reverse = (r_bytes > 0) | (r_packets > 0)
    # A biflow record whose forward half is empty only carries the reverse flow.
    forward = ~(reverse & (raw_bytes == 0) & (raw_packets == 0))
    rev = dict(cols)
    for a, b in (
        ("src_hi", "dst_hi"),
        ("src_lo", "dst_lo"),
        ("sport", "dport"),
        ("in_if", "out_if"),
    ):
        rev[a], rev[b] = cols[b], cols[a]
    rev["bytes"] = r_bytes * rate
    rev["packets"] = r_packets * rate
    r_flags = _first(layout, records, "r_tcp_flags")
    rev["tcp_flags"] = zero if r_flags is None else r_flags & np.uint64(0xFF)
    for family, number in (("4", 1), ("6", 58)):
        is_icmp = proto == number
        if is_icmp.any():
            code = _icmp(layout, records, "r_", family)
            rev["dport"] = np.where(is_icmp, zero if code is None else code, rev["dport"])
            rev["sport"] = np.where(is_icmp, zero, rev["sport"])
    both = {
        k: np.concatenate([np.asarray(v)[forward], np.asarray(rev[k])[reverse]])
        for k, v in cols.items()
    }
    total = int(np.count_nonzero(forward)) + int(np.count_nonzero(reverse))
    if bad_times is not None:
        implausible = int(
            np.count_nonzero(bad_times & forward) + np.count_nonzero(bad_times & reverse)
        )
    return GroupResult(_batch(total, both), implausible, 0)


def _batch(n: int, cols: dict[str, Any]) -> FlowBatch:
    dtypes = FlowBatch.DTYPES
    out = {name: np.ascontiguousarray(value, dtype=dtypes[name]) for name, value in cols.items()}
    out["direction"] = np.zeros(n, dtype=np.uint8)
    return FlowBatch(**out)
