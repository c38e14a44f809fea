"""Captures turned into flows: traffic 5-tuples (IPv4/IPv6 details) and flow-export detection."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from trafficatlas.sources.packets import looks_like_export, read_capture

from flowbuild import (
    NOW,
    TRAFFIC,
    corpus,
    ethernet,
    flow_rows,
    icmp,
    ipv4,
    ipv6,
    read_truth,
    tcp,
    udp,
    write_pcap,
)


@pytest.mark.parametrize("name", ["basic-wan", "basic-c1-lan"])
def test_traffic_captures_equal_truth(name: str) -> None:
    truth, totals = read_truth(name)
    result = read_capture(TRAFFIC / f"{name}.pcap")
    assert result.kind == "traffic"
    assert flow_rows(result.batch) == truth
    assert result.batch.totals() == totals
    assert (result.batch.exporter == 0).all()
    assert result.decoder is None


def test_small_chunks_aggregate_like_one() -> None:
    whole = read_capture(TRAFFIC / "basic-wan.pcap")
    chunked = read_capture(TRAFFIC / "basic-wan.pcap", chunk=100)
    assert flow_rows(chunked.batch) == flow_rows(whole.batch)
    assert chunked.batch.ts_start.min() == whole.batch.ts_start.min()
    assert int(chunked.batch.tcp_flags.max()) == int(whole.batch.tcp_flags.max())


def frag6(next_header: int, offset: int, more: bool, payload: bytes) -> bytes:
    return struct.pack(">BBHI", next_header, 0, (offset << 3) | int(more), 7) + payload


def test_ipv6_extension_headers_fragments_and_non_ip(tmp_path: Path) -> None:
    hop_by_hop = struct.pack(">BB6s", 6, 0, bytes(6))  # next header TCP, 8 bytes
    a, b = "2001:db8::1", "2001:db8::2"
    seg = tcp(1000, 80, payload=b"x" * 20)
    first = udp(5000, 53, b"q" * 40)
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28)
    packets = [
        ethernet(ipv6(a, b, 0, hop_by_hop + seg)),
        ethernet(ipv6(a, b, 0, hop_by_hop + seg), vlans=(7,)),
        ethernet(ipv6(a, b, 44, frag6(17, 0, True, first))),
        ethernet(ipv6(a, b, 44, frag6(17, 6, False, b"z" * 16))),
        ethernet(ipv6(a, b, 58, icmp(128, 0))),
        ethernet(ipv4("192.0.2.1", "192.0.2.2", 17, b"w" * 30, frag=0x0010)),  # later fragment
        arp,
    ]
    path = write_pcap(
        tmp_path / "v6.pcap", 1, [(NOW + i, p, len(p)) for i, p in enumerate(packets)]
    )
    result = read_capture(path)
    assert flow_rows(result.batch) == [
        (6, a, 1000, b, 80, 2, 2 * (40 + 8 + len(seg))),
        (17, "192.0.2.1", 0, "192.0.2.2", 0, 1, 50),
        (17, a, 0, b, 0, 1, 40 + 8 + 16),
        (17, a, 5000, b, 53, 1, 40 + 8 + len(first)),
        (58, a, 0, b, 128 * 256, 1, 48),
    ]
    assert result.packets.fragments == 3
    assert result.packets.non_ip == 1
    assert result.packets.ip_packets == 6


def export_capture(path: Path, payloads: list[bytes], dport: int, extra: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    packets = [
        ethernet(ipv4("192.0.2.7", "192.0.2.99", 17, udp(40000, dport, p))) for p in payloads
    ]
    packets += list(extra)
    return write_pcap(path, 1, [(NOW + i, p, len(p)) for i, p in enumerate(packets)])


@pytest.mark.parametrize(
    "sample", ["basic-softflowd-v5", "basic-pmacct-nfprobe-v10", "basic-pmacct-sfprobe-sflow5"]
)
def test_export_detected_on_any_port(tmp_path: Path, sample: str) -> None:
    result = read_capture(export_capture(tmp_path / "e.pcap", corpus(sample), dport=12345))
    assert result.kind == "flow_export"
    assert result.exporters == {1: "192.0.2.7"}
    assert result.packets.export_datagrams == len(corpus(sample))
    assert len(result.batch) == (1300 if "sflow" in sample else 9)


def test_traffic_with_a_few_export_datagrams_stays_traffic(tmp_path: Path) -> None:
    noise = [ethernet(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2))) for _ in range(10)]
    path = export_capture(
        tmp_path / "m.pcap", corpus("basic-softflowd-v5"), dport=2055, extra=noise
    )
    result = read_capture(path)
    assert result.kind == "traffic"
    assert result.packets.export_datagrams == 0
    assert sorted(r[0] for r in flow_rows(result.batch)) == [6, 17]
    # forced: the datagram is decoded and the rest is counted as other packets
    forced = read_capture(path, mode="flow_export")
    assert len(forced.batch) == 9
    assert forced.packets.other_packets == 10


def test_mode_traffic_on_an_export_capture(tmp_path: Path) -> None:
    path = export_capture(tmp_path / "t.pcap", corpus("basic-pmacct-nfprobe-v9"), dport=2055)
    result = read_capture(path, mode="traffic")
    assert result.kind == "traffic"
    assert flow_rows(result.batch)[0][:5] == (17, "192.0.2.7", 40000, "192.0.2.99", 2055)


def test_garbage_on_a_flow_port_is_counted_not_raised(tmp_path: Path) -> None:
    junk = [b"\x00\x09" + bytes(range(40)), b"\x00\x0a\x00\x05" + bytes(10)]
    result = read_capture(export_capture(tmp_path / "g.pcap", junk, dport=2055))
    assert result.kind == "flow_export"
    assert len(result.batch) == 0
    assert result.decoder is not None
    assert result.decoder.total_errors() == 2


def test_looks_like_export() -> None:
    for sample in (
        "basic-softflowd-v5",
        "basic-softflowd-v9",
        "basic-pmacct-nfprobe-v10",
        "basic-pmacct-sfprobe-sflow5",
    ):
        for datagram in corpus(sample):
            assert looks_like_export(datagram)
            assert not looks_like_export(datagram[:-1])
            assert not looks_like_export(datagram + b"\1" * 5)
    assert not looks_like_export(b"")
    assert not looks_like_export(b"GET / HTTP/1.1\r\n\r\n")


def test_forced_flow_export_on_a_traffic_capture() -> None:
    result = read_capture(TRAFFIC / "basic-wan.pcap", mode="flow_export")
    assert result.kind == "flow_export"
    assert len(result.batch) == 0
    assert result.packets.other_packets == 1304
    assert result.decoder is not None
    assert result.decoder.datagrams == 0
