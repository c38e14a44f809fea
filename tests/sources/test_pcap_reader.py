"""The capture reader over every file variant: pcap byte orders and resolutions, pcapng, link types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from trafficatlas.errors import DecodeError
from trafficatlas.sources.packets import read_capture
from trafficatlas.sources.pcap import CaptureReader

from flowbuild import (
    TRAFFIC,
    Packet,
    ethernet,
    flow_rows,
    null_loopback,
    pcapng_block,
    pcapng_epb,
    pcapng_idb,
    pcapng_pb,
    pcapng_shb,
    pcapng_spb,
    read_pcap_packets,
    read_truth,
    sll,
    sll2,
    write_pcap,
)

WAN = TRAFFIC / "basic-wan.pcap"


@pytest.fixture(scope="module")
def wan() -> list[Packet]:
    link, packets = read_pcap_packets(WAN)
    assert link == 1
    return packets


def reencap(packets: list[Packet], wrap: Callable[[bytes], bytes]) -> list[Packet]:
    """Replace each packet's Ethernet header by another link layer (original lengths adjusted)."""
    out = []
    for ts, data, orig in packets:
        new = wrap(data[14:])
        out.append((ts, new, orig - len(data) + len(new)))
    return out


def assert_truth(path: Path) -> None:
    truth, totals = read_truth("basic-wan")
    result = read_capture(path)
    assert result.kind == "traffic"
    assert flow_rows(result.batch) == truth
    assert result.batch.totals() == totals
    assert result.packets.ip_packets == totals["packets"]


@pytest.mark.parametrize(("big_endian", "nanos"), [(True, False), (False, True), (True, True)])
def test_pcap_byte_orders_and_resolutions(
    tmp_path: Path, wan: list[Packet], big_endian: bool, nanos: bool
) -> None:
    path = write_pcap(tmp_path / "v.pcap", 1, wan, big_endian=big_endian, nanos=nanos)
    assert_truth(path)
    result = read_capture(path)
    assert result.batch.ts_start.min() == pytest.approx(wan[0][0], abs=1e-6)
    assert result.batch.ts.max() == pytest.approx(wan[-1][0], abs=1e-6)
    assert result.capture.format == "pcap"
    assert result.capture.snapped == 1003  # tcpdump -s 128


@pytest.mark.parametrize(
    ("link", "wrap"),
    [
        (101, lambda ip: ip),
        (228, lambda ip: ip),
        (113, sll),
        (276, sll2),
        (0, null_loopback),
        (108, lambda ip: null_loopback(ip, big_endian=True)),
        (1, lambda ip: ethernet(ip, vlans=(42,))),
        (1, lambda ip: ethernet(ip, vlans=(10, 20))),
    ],
)
def test_link_types(
    tmp_path: Path, wan: list[Packet], link: int, wrap: Callable[[bytes], bytes]
) -> None:
    assert_truth(write_pcap(tmp_path / "l.pcap", link, reencap(wan, wrap)))


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_several_interfaces_and_block_kinds(
    tmp_path: Path, wan: list[Packet], big_endian: bool
) -> None:
    e = big_endian
    # interface 0 keeps the Ethernet frames; the others re-encapsulate the IP packets
    wraps: dict[int, tuple[int, Callable[[bytes], bytes]]] = {
        1: (101, lambda ip: ip),
        2: (113, sll),
        3: (276, sll2),
        4: (0, null_loopback),
    }
    blocks = [pcapng_shb(e), pcapng_idb(1, e)]
    blocks += [pcapng_idb(link, e, tsresol=9 if i == 2 else None) for i, (link, _) in wraps.items()]
    blocks.append(pcapng_block(0x0BAD, b"\0" * 4, e))  # unknown block type: skipped by length
    for n, (ts, data, orig) in enumerate(wan):
        iface = n % 5
        if n == 5:
            blocks.append(pcapng_spb(data, orig, e))  # simple packet block: interface 0
        elif n == 6:
            blocks.append(pcapng_pb(0, ts, data, orig, e))  # obsolete packet block
        elif iface == 0:
            blocks.append(pcapng_epb(0, ts, data, orig, e))
        else:
            ((_, new, new_orig),) = reencap([(ts, data, orig)], wraps[iface][1])
            blocks.append(pcapng_epb(iface, ts, new, new_orig, e, units=1e9 if iface == 2 else 1e6))
    path = tmp_path / "multi.pcapng"
    path.write_bytes(b"".join(blocks))
    assert_truth(path)
    stats = read_capture(path).capture
    assert stats.format == "pcapng"
    assert stats.skipped_blocks == 1
    assert sorted(stats.link_types) == [0, 1, 101, 113, 276]
    with CaptureReader(path) as reader:
        chunk = next(reader.chunks())
        assert chunk.ts[2] == pytest.approx(wan[2][0], abs=1e-6)  # nanosecond interface


def test_pcapng_sections_and_unknown_interface(tmp_path: Path, wan: list[Packet]) -> None:
    first = [pcapng_shb(), pcapng_idb(1)] + [pcapng_epb(0, ts, d, o) for ts, d, o in wan[:600]]
    second = [pcapng_shb(big_endian=True), pcapng_idb(1, big_endian=True)]
    second += [pcapng_epb(0, ts, d, o, big_endian=True) for ts, d, o in wan[600:]]
    second.append(pcapng_epb(3, 0.0, wan[0][1], wan[0][2], big_endian=True))  # no interface 3
    path = tmp_path / "sections.pcapng"
    path.write_bytes(b"".join(first + second))
    assert_truth(path)
    assert read_capture(path).capture.unknown_interface == 1


def test_truncated_capture_reads_complete_packets(tmp_path: Path, wan: list[Packet]) -> None:
    data = WAN.read_bytes()
    for cut in (len(data) - 1, len(data) - 60, len(data) - 100, 24 + 8):
        path = tmp_path / "cut.pcap"
        path.write_bytes(data[:cut])
        result = read_capture(path)
        assert result.capture.truncated_records == 1
        assert result.capture.packets < len(wan)
        assert int(result.batch.packets.sum()) == result.capture.packets


def test_impossible_record_length_stops_reading(tmp_path: Path, wan: list[Packet]) -> None:
    data = bytearray(WAN.read_bytes())
    data[24 + 8 : 24 + 12] = (10**9).to_bytes(4, "little")  # first record's captured length
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    result = read_capture(path)
    assert result.capture.bad_records == 1
    assert result.capture.packets == 0
    assert len(result.batch) == 0


def test_unsupported_link_type_is_counted(tmp_path: Path, wan: list[Packet]) -> None:
    result = read_capture(write_pcap(tmp_path / "u.pcap", 147, wan[:10]))
    assert result.packets.unsupported_link == 10
    assert len(result.batch) == 0


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"", "bad_capture"), (b"hello world, not a capture", "bad_capture"), (None, "io")],
)
def test_not_a_capture_is_a_decode_error(tmp_path: Path, content: bytes | None, kind: str) -> None:
    path = tmp_path / "x.pcap"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DecodeError) as info:
        read_capture(path)
    assert info.value.kind == kind


def test_directory_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(DecodeError, match="cannot read capture"):
        read_capture(tmp_path)
