"""Vectorized packet header parsing: link layer → IPv4/IPv6 → TCP/UDP/SCTP/ICMP, for many packets.

Input is a 2-D array of packet heads (one row per packet, zero-padded), their captured lengths
and link types. Every read is checked against the captured length, so truncated or garbage heads
yield ``ok == False`` or zero ports instead of errors. Shared by the sFlow raw-header samples and
the capture reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in host byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108  # OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
_RAW_TYPES = (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6)  # 12/14: DLT_RAW on some OSes
SUPPORTED_LINKTYPES = frozenset(
    (
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_LINUX_SLL2,
        *_RAW_TYPES,
    )
)
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_AF_INET6 = (10, 24, 28, 30)  # Linux, BSDs, FreeBSD, macOS
_PORT_PROTOS = (6, 17, 132, 136)  # TCP, UDP, SCTP, UDP-Lite
_V6_EXTENSIONS = (0, 43, 44, 51, 60)  # hop-by-hop, routing, fragment, AH, destination options

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bool = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Headers:
    """Per-packet fields; rows with ``ok == False`` are not IP (or too short to tell)."""

    ok: Bool
    ip_version: npt.NDArray[np.uint8]
    proto: npt.NDArray[np.uint8]
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    sport: U64
    dport: U64  # ICMP/ICMPv6: type * 256 + code
    tcp_flags: npt.NDArray[np.uint8]
    ip_len: U64  # IP total length (header + payload)
    l4: I64  # offset of the transport header from the start of the packet (-1: none)
    fragment: Bool  # part of a fragmented IP datagram (first or later fragment)
    udp_len: U64  # UDP length field (0 unless UDP)


class ByteReader:
    """Bounds-checked big-endian reads at per-row offsets."""

    def __init__(self, buf: npt.NDArray[np.uint8], caplen: I64) -> None:
        self.buf = buf
        self.width = buf.shape[1]
        self.cap = np.minimum(caplen, self.width)
        self.rows = np.arange(buf.shape[0])[:, None]

    def read(self, off: I64, size: int) -> U64:
        valid = (off >= 0) & (off + size <= self.cap)
        idx = np.clip(off[:, None] + np.arange(size), 0, self.width - 1)
        raw = np.ascontiguousarray(self.buf[self.rows, idx])
        value = raw.view(f">u{size}")[:, 0].astype(np.uint64)
        return np.where(valid, value, np.uint64(0))

    def has(self, off: I64, size: int) -> Bool:
        return (off >= 0) & (off + size <= self.cap)


def _link_layer(r: ByteReader, link: I64) -> tuple[I64, I64]:
    """(offset of the IP header, 4/6 from the link layer or 0) per row."""
    n = link.shape[0]
    l3 = np.full(n, -1, dtype=np.int64)
    kind = np.zeros(n, dtype=np.int64)
    eth = link == LINKTYPE_ETHERNET
    if eth.any():
        off = np.full(n, 14, dtype=np.int64)
        etype = r.read(off - 2, 2)
        for _ in range(3):  # 802.1Q / 802.1ad / QinQ tags
            vlan = np.isin(etype, _VLAN_TPIDS)
            if not vlan.any():
                break
            etype = np.where(vlan, r.read(off + 2, 2), etype)
            off = np.where(vlan, off + 4, off)
        l3 = np.where(eth, off, l3)
        kind = np.where(eth, _ethertype_kind(etype), kind)
    for linktype, at, start in ((LINKTYPE_LINUX_SLL, 14, 16), (LINKTYPE_LINUX_SLL2, 0, 20)):
        sel = link == linktype
        if sel.any():
            etype = r.read(np.full(n, at, dtype=np.int64), 2)
            l3 = np.where(sel, start, l3)
            kind = np.where(sel, _ethertype_kind(etype), kind)
    loop = (link == LINKTYPE_NULL) | (link == LINKTYPE_LOOP)
    if loop.any():
        family = r.read(np.zeros(n, dtype=np.int64), 4)
        # NULL stores the family in the capturing host's byte order: a big value is swapped.
        swapped = family.astype(np.uint32).byteswap().astype(np.uint64)
        family = np.where((link == LINKTYPE_NULL) & (family > 0xFFFF), swapped, family)
        fam_kind = np.where(family == 2, 4, np.where(np.isin(family, _AF_INET6), 6, 0))
        l3 = np.where(loop, 4, l3)
        kind = np.where(loop, fam_kind, kind)
    raw = np.isin(link, _RAW_TYPES)
    if raw.any():
        nibble = r.read(np.zeros(n, dtype=np.int64), 1) >> np.uint64(4)
        l3 = np.where(raw, 0, l3)
        kind = np.where(raw, nibble.astype(np.int64), kind)
    return l3, kind


def _ethertype_kind(etype: U64) -> I64:
    return np.where(etype == 0x0800, 4, np.where(etype == 0x86DD, 6, 0)).astype(np.int64)


def parse_headers(
    buf: npt.NDArray[np.uint8], caplen: I64, link: I64, orig_len: I64 | None = None
) -> Headers:
    """Parse the heads in ``buf`` (n × width) captured ``caplen`` long with pcap ``link`` types.

    ``orig_len`` (the packet's length on the wire) fills in the IP length where the header says
    0 (e.g. TSO super-frames).
    """
    n = buf.shape[0]
    r = ByteReader(buf, caplen.astype(np.int64))
    l3, kind = _link_layer(r, link.astype(np.int64))
    nibble = (r.read(l3, 1) >> np.uint64(4)).astype(np.int64)
    v4 = (kind == 4) & (nibble == 4) & r.has(l3, 20)
    v6 = (kind == 6) & (nibble == 6) & r.has(l3, 40)
    zero = np.zeros(n, dtype=np.uint64)

    ihl = ((r.read(l3, 1) & np.uint64(0x0F)) * np.uint64(4)).astype(np.int64)
    v4 &= ihl >= 20
    frag = r.read(l3 + 6, 2)
    src4, dst4 = r.read(l3 + 12, 4), r.read(l3 + 16, 4)

    nh = r.read(l3 + 6, 1)
    l4_6 = l3 + 40
    later6 = np.zeros(n, dtype=bool)
    frag6 = np.zeros(n, dtype=bool)
    for _ in range(6):  # bounded walk over IPv6 extension headers
        ext = v6 & np.isin(nh, _V6_EXTENSIONS)
        if not ext.any():
            break
        readable = r.has(l4_6, 2)
        hlen = r.read(l4_6 + 1, 1).astype(np.int64)
        size = np.where(nh == 44, 8, np.where(nh == 51, (hlen + 2) * 4, (hlen + 1) * 8))
        is_frag = ext & (nh == 44)
        offset_field = r.read(l4_6 + 2, 2)
        frag6 |= is_frag
        later6 |= is_frag & ((offset_field >> np.uint64(3)) != 0)
        nh = np.where(ext, np.where(readable, r.read(l4_6, 1), np.uint64(255)), nh)
        l4_6 = np.where(ext, l4_6 + size, l4_6)

    ok = v4 | v6
    proto = np.where(v4, r.read(l3 + 9, 1), np.where(v6, nh, zero))
    l4 = np.where(v4, l3 + ihl, np.where(v6, l4_6, -1))
    later = np.where(v4, (frag & np.uint64(0x1FFF)) != 0, later6)
    fragment = np.where(v4, (frag & np.uint64(0x3FFF)) != 0, frag6) & ok
    ip_len = np.where(v4, r.read(l3 + 2, 2), np.where(v6, r.read(l3 + 4, 2) + np.uint64(40), zero))
    if orig_len is not None:
        rest = np.maximum(orig_len.astype(np.int64) - l3, 0).astype(np.uint64)
        ip_len = np.where(ok & (ip_len == 0), rest, ip_len)

    whole = ok & ~later
    ported = whole & np.isin(proto, _PORT_PROTOS) & r.has(l4, 4)
    sport = np.where(ported, r.read(l4, 2), zero)
    dport = np.where(ported, r.read(l4 + 2, 2), zero)
    icmp = whole & (((proto == 1) & v4) | ((proto == 58) & v6)) & r.has(l4, 2)
    dport = np.where(icmp, r.read(l4, 2), dport)
    tcp = whole & (proto == 6) & r.has(l4, 14)
    flags = np.where(tcp, r.read(l4 + 13, 1), zero)
    udp_len = np.where(whole & (proto == 17), r.read(l4 + 4, 2), zero)

    s6_hi, s6_lo = r.read(l3 + 8, 8), r.read(l3 + 16, 8)
    d6_hi, d6_lo = r.read(l3 + 24, 8), r.read(l3 + 32, 8)
    return Headers(
        ok=ok,
        ip_version=np.where(v4, 4, np.where(v6, 6, 0)).astype(np.uint8),
        proto=proto.astype(np.uint8),
        src_hi=np.where(v6, s6_hi, zero),
        src_lo=np.where(v6, s6_lo, np.where(v4, src4, zero)),
        dst_hi=np.where(v6, d6_hi, zero),
        dst_lo=np.where(v6, d6_lo, np.where(v4, dst4, zero)),
        sport=sport,
        dport=dport,
        tcp_flags=flags.astype(np.uint8),
        ip_len=ip_len,
        l4=np.where(ok, l4, -1).astype(np.int64),
        fragment=fragment,
        udp_len=udp_len,
    )


def heads_matrix(heads: list[bytes], width: int) -> npt.NDArray[np.uint8]:
    """Stack byte strings into an (n, width) array, cut or zero-padded."""
    if not heads:
        return np.zeros((0, max(width, 1)), dtype=np.uint8)
    joined = b"".join(h[:width].ljust(width, b"\0") for h in heads)
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(heads), width)
