"""sFlow v5: flow samples (raw packet headers, sampled IPv4/IPv6) and counter samples.

Each flow sample becomes one flow row: packets = sampling rate, bytes = sampled length × rate.
The sampled headers of a whole batch are parsed together by :mod:`headers`. Which length counts as
bytes is a setting (``sflow_bytes``):

- ``frame_minus_stripped`` (default): ``frame_length - stripped``, the frame as captured on the
  wire without the FCS the agent reports as stripped. For the pmacct corpus this is exactly the
  sum of the sampled packets' frame lengths in the source pcap.
- ``frame``: ``frame_length`` as sent (the sFlow spec includes the 4-byte FCS).
- ``ip``: the IP total length from the sampled header (the NetFlow convention).

The exporter of a sample is the datagram's UDP source address, as for NetFlow; the agent
addresses from the sFlow header are kept as exporter metadata. Flows carry the arrival time
(sFlow has no flow timestamps).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import TYPE_CHECKING, Literal

import numpy as np

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.sources.headers import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    heads_matrix,
    parse_headers,
)
from trafficatlas.sources.records import RowValues
from trafficatlas.sources.state import BatchContext, ExporterState, InterfaceCounters, SFlowRows

if TYPE_CHECKING:
    from trafficatlas.sources.exporters import ExporterTable

SFlowBytes = Literal["frame_minus_stripped", "frame", "ip"]
SFLOW_VERSION = 0x5F5  # internal source key, distinct from NetFlow's version numbers
MAX_HEADER = 256  # bytes of a sampled header kept for parsing
_MAX_AGENTS = 16
_II = struct.Struct(">II")
_III = struct.Struct(">III")
_IIII = struct.Struct(">IIII")
_FLOW = struct.Struct(">8I")
_FLOW_EXPANDED = struct.Struct(">11I")
_SAMPLED_V4 = struct.Struct(">II4s4sIIII")
_SAMPLED_V6 = struct.Struct(">II16s16sIIII")
_GENERIC_IF = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_LINK = {1: LINKTYPE_ETHERNET, 11: LINKTYPE_IPV4, 12: LINKTYPE_IPV6}


def scan_sflow(
    dec: ExporterTable, data: bytes, exp: ExporterState, arrival: float, ctx: BatchContext
) -> None:
    """Collect the samples of one sFlow v5 datagram."""
    size = len(data)
    counters = dec.counters
    if size < 28:
        counters.error("truncated")
        return
    _, address_type = _II.unpack_from(data)
    alen = 4 if address_type == 1 else 16 if address_type == 2 else 0
    if not alen:
        counters.error("bad_address")
        return
    off = 8 + alen
    if off + 16 > size:
        counters.error("truncated")
        return
    agent = data[8:off]
    if agent not in exp.sflow_agents and len(exp.sflow_agents) < _MAX_AGENTS:
        exp.sflow_agents[agent] = str(ipaddress.ip_address(agent))
    sub_agent, _seq, uptime, samples = _IIII.unpack_from(data, off)
    off += 16
    dg = ctx.add_datagram(exp, SFLOW_VERSION, sub_agent, arrival, arrival, uptime)
    for _ in range(samples):
        if size - off < 8:
            counters.error("truncated")
            return
        fmt, length = _II.unpack_from(data, off)
        body, end = off + 8, off + 8 + length
        if end > size:
            counters.error("truncated")
            return
        if fmt == 1 or fmt == 3:  # (expanded) flow sample, enterprise 0
            counters.sflow_samples += 1
            _flow_sample(dec, data, body, end, fmt == 3, dg, ctx.sflow)
        elif fmt == 2 or fmt == 4:  # (expanded) counter sample
            counters.counter_samples += 1
            _counter_sample(dec, data, body, end, fmt == 4, exp, arrival)
        off = end  # other formats are skipped by their length
    if off != size:
        counters.error("bad_length")


def _flow_sample(
    dec: ExporterTable, data: bytes, off: int, end: int, expanded: bool, dg: int, rows: SFlowRows
) -> None:
    if expanded:
        if end - off < _FLOW_EXPANDED.size:
            dec.counters.error("truncated")
            return
        fields = _FLOW_EXPANDED.unpack_from(data, off)
        rate, records = fields[3], fields[10]
        in_if = fields[7] if fields[6] == 0 else 0
        out_if = fields[9] if fields[8] == 0 else 0
        p = off + _FLOW_EXPANDED.size
    else:
        if end - off < _FLOW.size:
            dec.counters.error("truncated")
            return
        _, _, rate, _, _, inp, outp, records = _FLOW.unpack_from(data, off)
        # Top two bits: 0 = ifIndex, 1 = discarded, 2 = several interfaces.
        in_if = inp & 0x3FFF_FFFF if inp >> 30 == 0 else 0
        out_if = outp & 0x3FFF_FFFF if outp >> 30 == 0 else 0
        p = off + _FLOW.size
    raw: tuple[int, int, int, bytes] | None = None  # (link type, frame length, stripped, header)
    sampled: tuple[int, int, int, bytes] | None = None
    for _ in range(records):
        if end - p < 8:
            dec.counters.error("truncated")
            return
        fmt, length = _II.unpack_from(data, p)
        body, rend = p + 8, p + 8 + length
        if rend > end:
            dec.counters.error("truncated")
            return
        if fmt == 1 and raw is None:
            if length < 16:
                dec.counters.error("bad_length")
                return
            proto, frame_len, stripped, hlen = _IIII.unpack_from(data, body)
            if hlen > length - 16:
                dec.counters.error("bad_length")
                return
            header = data[body + 16 : body + 16 + min(hlen, MAX_HEADER)]
            raw = (_LINK.get(proto, -1), frame_len, stripped, header)
        elif fmt in (3, 4) and sampled is None:
            sampled = _sampled_ip(data, body, rend, fmt)
        p = rend
    found = raw if raw is not None else sampled
    if found is None:
        dec.counters.non_ip_records += 1
        return
    rows.datagrams.append(dg)
    rows.rates.append(rate)
    rows.in_if.append(in_if)
    rows.out_if.append(out_if)
    rows.link.append(found[0])
    rows.frame_len.append(found[1])
    rows.stripped.append(found[2])
    rows.headers.append(found[3])


def _sampled_ip(data: bytes, off: int, end: int, fmt: int) -> tuple[int, int, int, bytes] | None:
    """A sampled IPv4/IPv6 record rewritten as a minimal IP + transport header."""
    layout = _SAMPLED_V4 if fmt == 3 else _SAMPLED_V6
    if end - off < layout.size:
        return None
    length, proto, src, dst, sport, dport, flags, _tos = layout.unpack_from(data, off)
    proto &= 0xFF
    ports = struct.pack(">HH", sport & 0xFFFF, dport & 0xFFFF) + bytes(9) + bytes([flags & 0xFF])
    if proto in (1, 58):  # the sampled record carries ICMP type/code in the port fields
        ports = struct.pack(">BB", sport & 0xFF, dport & 0xFF) + bytes(16)
    if fmt == 3:
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, length & 0xFFFF, 0, 0, 64, proto, 0, src, dst)
        link = LINKTYPE_IPV4
    else:
        ip = struct.pack(">IHBB16s16s", 6 << 28, max(length - 40, 0) & 0xFFFF, proto, 64, src, dst)
        link = LINKTYPE_IPV6
    return link, length, 0, ip + ports


def _counter_sample(
    dec: ExporterTable,
    data: bytes,
    off: int,
    end: int,
    expanded: bool,
    exp: ExporterState,
    arrival: float,
) -> None:
    head = _IIII if expanded else _III
    if end - off < head.size:
        dec.counters.error("truncated")
        return
    records = head.unpack_from(data, off)[-1]
    p = off + head.size
    for _ in range(records):
        if end - p < 8:
            dec.counters.error("truncated")
            return
        fmt, length = _II.unpack_from(data, p)
        if p + 8 + length > end:
            dec.counters.error("truncated")
            return
        if fmt == 1 and length >= _GENERIC_IF.size:
            c = _GENERIC_IF.unpack_from(data, p + 8)
            if c[0] in exp.sflow_interfaces or len(exp.sflow_interfaces) < 65536:
                exp.sflow_interfaces[c[0]] = InterfaceCounters(
                    ts=arrival,
                    if_index=c[0],
                    speed=c[2],
                    in_octets=c[5],
                    in_packets=c[6] + c[7] + c[8],
                    in_discards=c[9],
                    in_errors=c[10],
                    out_octets=c[12],
                    out_packets=c[13] + c[14] + c[15],
                    out_discards=c[16],
                    out_errors=c[17],
                )
        p += 8 + length


def finish_sflow(
    rows: SFlowRows, values: RowValues, mode: SFlowBytes
) -> tuple[FlowBatch | None, int]:
    """Flow rows for the batch's samples; returns (batch, samples without an IP header)."""
    n = len(rows.headers)
    width = min(max(len(h) for h in rows.headers), MAX_HEADER)
    caplen = np.fromiter((len(h) for h in rows.headers), dtype=np.int64, count=n)
    frame = np.asarray(rows.frame_len, dtype=np.int64)
    stripped = np.minimum(np.asarray(rows.stripped, dtype=np.int64), frame)
    h = parse_headers(
        heads_matrix(rows.headers, max(width, 1)),
        caplen,
        np.asarray(rows.link, dtype=np.int64),
        frame - stripped,
    )
    keep = h.ok
    rate = np.asarray(rows.rates, dtype=np.uint64)
    rate = np.where(rate > 0, rate, values.source_rate)
    rate = np.clip(np.where(values.override > 0, values.override, rate), 1, 0xFFFF_FFFF)
    if mode == "frame":
        length = frame.astype(np.uint64)
    elif mode == "ip":
        length = h.ip_len
    else:
        length = (frame - stripped).astype(np.uint64)
    total = int(np.count_nonzero(keep))
    cols = {
        "ts": values.arrival,
        "ts_start": values.arrival,
        "exporter": values.exporter,
        "in_if": np.asarray(rows.in_if, dtype=np.uint32),
        "out_if": np.asarray(rows.out_if, dtype=np.uint32),
        "ip_version": h.ip_version,
        "proto": h.proto,
        "src_hi": h.src_hi,
        "src_lo": h.src_lo,
        "dst_hi": h.dst_hi,
        "dst_lo": h.dst_lo,
        "sport": h.sport,
        "dport": h.dport,
        "tcp_flags": h.tcp_flags,
        "bytes": length * rate,
        "packets": rate,
        "sampling_rate": rate,
    }
    dtypes = FlowBatch.DTYPES
    out = {k: np.asarray(v, dtype=dtypes[k])[keep] for k, v in cols.items()}
    out["flows"] = np.ones(total, dtype=np.uint32)
    out["direction"] = np.zeros(total, dtype=np.uint8)
    return FlowBatch(**out), n - total
