"""Captures → flows: exported datagrams are decoded; ordinary traffic becomes 5-tuple flows.

A capture is a flow export when, in its first chunk of packets, at least half of the IP packets
are UDP datagrams carrying NetFlow v5/v9, IPFIX or sFlow (to a flow port, or anywhere if the
payload parses strictly as one). Otherwise every IP packet counts as traffic and packets are
summed into unidirectional 5-tuple flows over the whole capture: bytes = IP total length, ICMP
type/code in dport (type*256+code), the convention of NetFlow v5 and of the corpus truth files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.net import format_ip
from trafficatlas.sources.decode import Datagram, DecoderSettings, FlowDecoder
from trafficatlas.sources.headers import (
    SUPPORTED_LINKTYPES,
    ByteReader,
    Headers,
    heads_matrix,
    parse_headers,
)
from trafficatlas.sources.pcap import HEAD_WIDTH, CaptureReader, CaptureStats, PacketChunk
from trafficatlas.sources.state import DecoderCounters, ExporterRegistry

FLOW_PORTS = frozenset({2055, 4739, 6343, 9995, 9996, 29990})
CaptureKind = Literal["flow_export", "traffic"]
_HH = struct.Struct(">HH")
_II = struct.Struct(">II")
_DECODE_BATCH = 4096  # datagrams per decode_many call: bounds the memory of one batch
_KEYS = ("ip_version", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport")


@dataclass(slots=True)
class PacketCounts:
    """How the packets of a capture were used."""

    ip_packets: int = 0
    non_ip: int = 0  # ARP, LLDP, ... or too short to hold an IP header
    unsupported_link: int = 0  # link types the reader cannot parse
    fragments: int = 0  # parts of fragmented IP datagrams (not reassembled)
    export_datagrams: int = 0
    other_packets: int = 0  # flow-export captures: IP packets that are not exported datagrams


@dataclass(slots=True)
class CaptureResult:
    """Flows read from one capture, and what was read."""

    batch: FlowBatch
    kind: CaptureKind
    capture: CaptureStats
    packets: PacketCounts
    decoder: DecoderCounters | None  # flow-export captures only
    exporters: dict[int, str] = field(default_factory=dict)  # exporter id -> UDP source address


def read_capture(
    path: str | Path,
    mode: Literal["auto", "flow_export", "traffic"] = "auto",
    settings: DecoderSettings | None = None,
    registry: ExporterRegistry | None = None,
    chunk: int = 65536,
) -> CaptureResult:
    """Read a pcap/pcapng capture into flows (raises DecodeError if it is not a capture)."""
    counts = PacketCounts()
    kind: CaptureKind | None = None if mode == "auto" else mode
    decoder = FlowDecoder(settings, registry) if kind == "flow_export" else None
    parts: list[FlowBatch] = []
    names: dict[tuple[int, int, int], str] = {}
    with CaptureReader(path) as reader:
        for ch in reader.chunks(chunk):
            heads = heads_matrix(ch.heads, HEAD_WIDTH)
            h = parse_headers(heads, ch.caplen, ch.link, ch.orig_len)
            _count(counts, ch, h)
            exports: list[Datagram] = []
            if kind != "traffic":
                exports = _export_datagrams(reader, ch, h, heads, names)
            if kind is None:
                ip = int(np.count_nonzero(h.ok))
                kind = "flow_export" if exports and 2 * len(exports) >= ip else "traffic"
            if kind == "flow_export":
                decoder = decoder or FlowDecoder(settings, registry)
                counts.export_datagrams += len(exports)
                counts.other_packets += int(np.count_nonzero(h.ok)) - len(exports)
                for i in range(0, len(exports), _DECODE_BATCH):
                    parts.append(decoder.decode_many(exports[i : i + _DECODE_BATCH]))
            else:
                parts.append(aggregate_5tuple(_packet_rows(ch, h)))
    if decoder is not None:
        decoder.flush_pending()  # data sets still waiting for a template never get one
        batch = FlowBatch.concat(parts)
        exporters = dict(decoder.registry.items())
        return CaptureResult(
            batch, "flow_export", reader.stats, counts, decoder.counters, exporters
        )
    batch = aggregate_5tuple(FlowBatch.concat(parts)) if len(parts) > 1 else FlowBatch.concat(parts)
    return CaptureResult(batch, "traffic", reader.stats, counts, None)


def _count(counts: PacketCounts, ch: PacketChunk, h: Headers) -> None:
    supported = np.isin(ch.link, list(SUPPORTED_LINKTYPES))
    counts.unsupported_link += int(np.count_nonzero(~supported))
    counts.ip_packets += int(np.count_nonzero(h.ok))
    counts.non_ip += int(np.count_nonzero(supported & ~h.ok))
    counts.fragments += int(np.count_nonzero(h.fragment))


def _export_datagrams(
    reader: CaptureReader,
    ch: PacketChunk,
    h: Headers,
    heads: npt.NDArray[np.uint8],
    names: dict[tuple[int, int, int], str],
) -> list[Datagram]:
    """UDP payloads of the chunk that are NetFlow/IPFIX/sFlow datagrams, in capture order."""
    udp = h.ok & (h.proto == 17) & ~h.fragment & (h.l4 >= 0)
    if not udp.any():
        return []
    start = h.l4 + 8
    size = np.minimum(h.udp_len.astype(np.int64) - 8, ch.caplen - start)
    first = ByteReader(heads, ch.caplen).read(start, 4)
    version = first >> np.uint64(16)
    candidate = udp & (size >= 4) & (np.isin(version, (5, 9, 10)) | (first == 5))
    on_port = np.isin(h.dport, list(FLOW_PORTS))
    out: list[Datagram] = []
    for i in np.flatnonzero(candidate).tolist():
        payload = reader.read(int(ch.offset[i] + start[i]), int(size[i]))
        if on_port[i] or looks_like_export(payload):
            key = (int(h.ip_version[i]), int(h.src_hi[i]), int(h.src_lo[i]))
            name = names.get(key)
            if name is None:
                name = names[key] = format_ip(*key)
            out.append((payload, name, float(ch.ts[i])))
    return out


def looks_like_export(payload: bytes) -> bool:
    """Strict check that a UDP payload is a whole NetFlow v5/v9, IPFIX or sFlow v5 datagram."""
    n = len(payload)
    if n < 8:
        return False
    version, count = (int(v) for v in _HH.unpack_from(payload))
    if version == 5:
        return 1 <= count <= 30 and n == 24 + 48 * count
    if version == 9:
        return n >= 20 and _sets_chain(payload, 20, n, (0, 1), exact=False)
    if version == 10:
        return n >= 16 and count == n and _sets_chain(payload, 16, n, (2, 3), exact=True)
    if _II.unpack_from(payload)[0] == 5:
        return _sflow_chain(payload)
    return False


def _sets_chain(data: bytes, off: int, n: int, template_ids: tuple[int, int], exact: bool) -> bool:
    sets = 0
    while n - off >= 4:
        sid, length = _HH.unpack_from(data, off)
        if length < 4 or off + length > n or not (sid in template_ids or sid >= 256):
            return False
        off += length
        sets += 1
    return sets > 0 and (off == n or not exact)


def _sflow_chain(data: bytes) -> bool:
    n = len(data)
    address_type = _II.unpack_from(data)[1]
    if address_type not in (1, 2):
        return False
    off = 8 + (4 if address_type == 1 else 16) + 16
    if off > n:
        return False
    samples = _II.unpack_from(data, off - 8)[1]
    for _ in range(samples):
        if n - off < 8:
            return False
        off += 8 + _II.unpack_from(data, off)[1]
    return samples > 0 and off == n


def _packet_rows(ch: PacketChunk, h: Headers) -> FlowBatch:
    """One flow row per IP packet (aggregated right after)."""
    ok = h.ok
    n = int(np.count_nonzero(ok))
    return FlowBatch.from_columns(
        n,
        ts=ch.ts[ok],
        ts_start=ch.ts[ok],
        ip_version=h.ip_version[ok],
        proto=h.proto[ok],
        src_hi=h.src_hi[ok],
        src_lo=h.src_lo[ok],
        dst_hi=h.dst_hi[ok],
        dst_lo=h.dst_lo[ok],
        sport=h.sport[ok],
        dport=h.dport[ok],
        tcp_flags=h.tcp_flags[ok],
        bytes=h.ip_len[ok],
        packets=1,
    )


def aggregate_5tuple(batch: FlowBatch) -> FlowBatch:
    """Merge rows with equal (version, proto, src, sport, dst, dport); sum counters, OR flags."""
    n = len(batch)
    if n == 0:
        return batch
    keys = [getattr(batch, k) for k in _KEYS]
    order = np.lexsort(keys[::-1])
    keys = [k[order] for k in keys]
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    m = len(starts)
    cols = {name: k[starts] for name, k in zip(_KEYS, keys, strict=True)}
    return FlowBatch.from_columns(
        m,
        ts=np.maximum.reduceat(batch.ts[order], starts),
        ts_start=np.minimum.reduceat(batch.ts_start[order], starts),
        tcp_flags=np.bitwise_or.reduceat(batch.tcp_flags[order], starts),
        bytes=np.add.reduceat(batch.bytes[order], starts),
        packets=np.add.reduceat(batch.packets[order], starts),
        flows=1,
        **cols,
    )
