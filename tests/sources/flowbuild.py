"""Builders for test inputs: NetFlow v9 / IPFIX / sFlow datagrams, packets and capture files.

Written from the RFCs / sFlow v5 spec / pcap and pcapng formats, independently of the decoder.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import Counter
from pathlib import Path

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.net import format_ip

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "flows"
DATAGRAMS = FIXTURES / "datagrams"
TRAFFIC = FIXTURES / "traffic"
NOW = 1_795_306_200.0  # the corpus was recorded in November 2026

FlowRow = tuple[int, str, int, str, int, int, int]  # proto, src, sport, dst, dport, packets, bytes


# --- ground truth ----------------------------------------------------------------------------


def read_truth(name: str) -> tuple[list[FlowRow], dict[str, int]]:
    """Rows and TOTAL of traffic/<name>.truth.tsv."""
    rows: list[FlowRow] = []
    totals: dict[str, int] = {}
    for line in (TRAFFIC / f"{name}.truth.tsv").read_text().splitlines()[1:]:
        parts = line.split("\t")
        if parts[0] == "TOTAL":
            totals = {k: int(v) for k, v in (p.split("=") for p in parts[1:])}
            continue
        p, src, sport, dst, dport, packets, nbytes = parts
        rows.append((int(p), src, int(sport), dst, int(dport), int(packets), int(nbytes)))
    return sorted(rows), totals


def flow_rows(batch: FlowBatch) -> list[FlowRow]:
    """The batch as sorted truth-style rows (5-tuples with equal keys summed)."""
    sums: Counter[tuple[int, str, int, str, int]] = Counter()
    byte_sums: Counter[tuple[int, str, int, str, int]] = Counter()
    for i in range(len(batch)):
        v = int(batch.ip_version[i])
        key = (
            int(batch.proto[i]),
            format_ip(v, int(batch.src_hi[i]), int(batch.src_lo[i])),
            int(batch.sport[i]),
            format_ip(v, int(batch.dst_hi[i]), int(batch.dst_lo[i])),
            int(batch.dport[i]),
        )
        sums[key] += int(batch.packets[i])
        byte_sums[key] += int(batch.bytes[i])
    return sorted((*k, sums[k], byte_sums[k]) for k in sums)


def corpus(sample: str) -> list[bytes]:
    """The datagrams of one exporter sample, in arrival order."""
    return [p.read_bytes() for p in sorted((DATAGRAMS / sample).glob("*.bin"))]


# --- NetFlow v9 ------------------------------------------------------------------------------


def pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def v9_datagram(
    sets: list[bytes], source_id: int = 0, uptime: int = 100_000, secs: int = int(NOW)
) -> bytes:
    return struct.pack(">HHIIII", 9, len(sets), uptime, secs, 1, source_id) + b"".join(sets)


def v9_template_set(*templates: tuple[int, list[tuple[int, int]]]) -> bytes:
    body = b""
    for tid, fields in templates:
        body += struct.pack(">HH", tid, len(fields))
        body += b"".join(struct.pack(">HH", t, n) for t, n in fields)
    return struct.pack(">HH", 0, 4 + len(body)) + body


def v9_options_template_set(
    tid: int, scope: list[tuple[int, int]], fields: list[tuple[int, int]]
) -> bytes:
    body = struct.pack(">HHH", tid, 4 * len(scope), 4 * len(fields))
    body += b"".join(struct.pack(">HH", t, n) for t, n in scope + fields)
    body = pad4(body)
    return struct.pack(">HH", 1, 4 + len(body)) + body


def data_set(tid: int, payload: bytes) -> bytes:
    payload = pad4(payload)
    return struct.pack(">HH", tid, 4 + len(payload)) + payload


# --- IPFIX -----------------------------------------------------------------------------------

IpfixField = tuple[int, int] | tuple[int, int, int]  # (element, length[, enterprise])


def ipfix_message(sets: list[bytes], domain: int = 0, export_time: int = int(NOW)) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export_time, 1, domain) + body


def _ipfix_fields(fields: list[IpfixField]) -> bytes:
    out = b""
    for f in fields:
        if len(f) == 3:
            out += struct.pack(">HHI", f[0] | 0x8000, f[1], f[2])
        else:
            out += struct.pack(">HH", f[0], f[1])
    return out


def ipfix_template_set(*templates: tuple[int, list[IpfixField]]) -> bytes:
    body = b""
    for tid, fields in templates:
        body += struct.pack(">HH", tid, len(fields)) + _ipfix_fields(fields)
    return struct.pack(">HH", 2, 4 + len(body)) + body


def ipfix_options_template_set(tid: int, scope_count: int, fields: list[IpfixField]) -> bytes:
    body = struct.pack(">HHH", tid, len(fields), scope_count) + _ipfix_fields(fields)
    return struct.pack(">HH", 3, 4 + len(body)) + body


def ipfix_withdrawal(tid: int, options: bool = False) -> bytes:
    return struct.pack(">HHHH", 3 if options else 2, 8, tid, 0)


def varlen(value: bytes) -> bytes:
    if len(value) < 255:
        return bytes([len(value)]) + value
    return b"\xff" + struct.pack(">H", len(value)) + value


def ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text).packed


# --- sFlow v5 --------------------------------------------------------------------------------


def sflow_datagram(samples: list[bytes], agent: str = "192.0.2.1", sub_agent: int = 0) -> bytes:
    addr = ipaddress.ip_address(agent)
    head = struct.pack(">II", 5, 1 if addr.version == 4 else 2) + addr.packed
    head += struct.pack(">IIII", sub_agent, 1, 1000, len(samples))
    return head + b"".join(samples)


def sflow_record(fmt: int, body: bytes) -> bytes:
    body = pad4(body)
    return struct.pack(">II", fmt, len(body)) + body


def sflow_raw_header(header: bytes, frame_len: int, stripped: int = 4, protocol: int = 1) -> bytes:
    return sflow_record(
        1, struct.pack(">IIII", protocol, frame_len, stripped, len(header)) + header
    )


def sflow_flow_sample(
    rate: int, records: list[bytes], expanded: bool = False, in_if: int = 3, out_if: int = 4
) -> bytes:
    if expanded:
        body = struct.pack(">11I", 1, 0, 7, rate, 1000, 0, 0, in_if, 0, out_if, len(records))
    else:
        body = struct.pack(">8I", 1, 7, rate, 1000, 0, in_if, out_if, len(records))
    body += b"".join(records)
    return struct.pack(">II", 3 if expanded else 1, len(body)) + body


def sflow_counter_sample(records: list[bytes], expanded: bool = False) -> bytes:
    head = (
        struct.pack(">IIII", 1, 0, 7, len(records))
        if expanded
        else struct.pack(">III", 1, 7, len(records))
    )
    body = head + b"".join(records)
    return struct.pack(">II", 4 if expanded else 2, len(body)) + body


def generic_if_counters(if_index: int, in_octets: int, out_octets: int) -> bytes:
    body = struct.pack(
        ">IIQIIQIIIIIIQIIIIII",
        if_index, 6, 10**9, 1, 3, in_octets, 10, 1, 1, 0, 0, 0, out_octets, 20, 2, 2, 0, 0, 0,
    )  # fmt: skip
    return sflow_record(1, body)


# --- packets ---------------------------------------------------------------------------------


def tcp(sport: int, dport: int, flags: int = 0x18, payload: bytes = b"") -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 512, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(typ: int, code: int, payload: bytes = b"\0" * 4) -> bytes:
    return struct.pack(">BBH", typ, code, 0) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, frag: int = 0) -> bytes:
    head = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0, ip4(src), ip4(dst)
    )
    return head + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack(">IHBB16s16s", 6 << 28, len(payload), next_header, 64, ip6(src), ip6(dst))
        + payload
    )


def ethernet(ip: bytes, vlans: tuple[int, ...] = ()) -> bytes:
    etype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    head = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02"
    for i, vid in enumerate(vlans):
        head += struct.pack(">HH", 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100, vid)
    return head + struct.pack(">H", etype) + ip


def sll(ip: bytes) -> bytes:
    etype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", etype) + ip


def sll2(ip: bytes) -> bytes:
    etype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    return struct.pack(">HHIHBB8s", etype, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + ip


def null_loopback(ip: bytes, big_endian: bool = False) -> bytes:
    family = 2 if ip[0] >> 4 == 4 else 30
    return struct.pack(">I" if big_endian else "<I", family) + ip


# --- capture files ---------------------------------------------------------------------------

Packet = tuple[float, bytes, int]  # timestamp, captured bytes, original length


def read_pcap_packets(path: Path) -> tuple[int, list[Packet]]:
    """(link type, packets) of a little-endian microsecond pcap (the corpus format)."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    link = struct.unpack_from("<I", data, 20)[0]
    off, out = 24, []
    while off < len(data):
        sec, usec, cap, orig = struct.unpack_from("<IIII", data, off)
        out.append((sec + usec / 1e6, data[off + 16 : off + 16 + cap], orig))
        off += 16 + cap
    return link, out


def write_pcap(
    path: Path, link: int, packets: list[Packet], big_endian: bool = False, nanos: bool = False
) -> Path:
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, link)]
    for ts, data, orig in packets:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nanos else 1e6))
        out.append(struct.pack(e + "IIII", sec, frac, len(data), orig) + data)
    path.write_bytes(b"".join(out))
    return path


def _block(e: str, btype: int, body: bytes) -> bytes:
    body = pad4(body)
    return (
        struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))
    )


def pcapng_block(btype: int, body: bytes, big_endian: bool = False) -> bytes:
    return _block(">" if big_endian else "<", btype, body)


def pcapng_shb(big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    return _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_idb(link: int, big_endian: bool = False, tsresol: int | None = None) -> bytes:
    e = ">" if big_endian else "<"
    body = struct.pack(e + "HHI", link, 0, 262144)
    if tsresol is not None:
        body += struct.pack(e + "HH", 9, 1) + bytes([tsresol]) + b"\0\0\0"
        body += struct.pack(e + "HH", 0, 0)
    return _block(e, 1, body)


def pcapng_epb(
    iface: int, ts: float, data: bytes, orig: int, big_endian: bool = False, units: float = 1e6
) -> bytes:
    e = ">" if big_endian else "<"
    t = round(ts * units)
    body = struct.pack(e + "IIIII", iface, t >> 32, t & 0xFFFFFFFF, len(data), orig) + data
    return _block(e, 6, body)


def pcapng_spb(data: bytes, orig: int, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    return _block(e, 3, struct.pack(e + "I", orig) + data)


def pcapng_pb(iface: int, ts: float, data: bytes, orig: int, big_endian: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    t = round(ts * 1e6)
    body = struct.pack(e + "HHIIII", iface, 0, t >> 32, t & 0xFFFFFFFF, len(data), orig) + data
    return _block(e, 2, body)
