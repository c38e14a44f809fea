"""Capture file reader: classic pcap (both byte orders, µs/ns) and pcapng (SHB/IDB/EPB/SPB/PB).

The file is memory-mapped and walked record by record (every length is checked against the
block and the file, so corrupt or truncated files end the walk instead of raising). Packets come
out in chunks of NumPy columns plus the first bytes of each packet for vectorized header parsing.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

from trafficatlas.errors import DecodeError

PCAP_MAGICS = {
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
}
PCAPNG_SHB = 0x0A0D0D0A
_BOM = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}
MAX_CAPLEN = 262_144  # libpcap's largest snapshot length
HEAD_WIDTH = 256  # bytes of each packet kept for header parsing


@dataclass(slots=True)
class CaptureStats:
    """What the reader saw, including what it could not read."""

    format: str
    packets: int = 0
    truncated_records: int = 0  # an incomplete record or block at the end of the file
    bad_records: int = 0  # a record or block with an impossible length (reading stops there)
    snapped: int = 0  # packets captured shorter than they were on the wire
    unknown_interface: int = 0  # pcapng packets naming an interface no IDB described
    skipped_blocks: int = 0  # pcapng blocks of other types (statistics, name resolution...)
    link_types: dict[int, int] = field(default_factory=dict)  # packets per link type


@dataclass(slots=True)
class PacketChunk:
    """Up to ``chunk`` packets: columns plus each packet's first HEAD_WIDTH bytes."""

    offset: npt.NDArray[np.int64]  # of the packet data in the file
    caplen: npt.NDArray[np.int64]
    orig_len: npt.NDArray[np.int64]
    ts: npt.NDArray[np.float64]
    link: npt.NDArray[np.int64]
    heads: list[bytes]

    def __len__(self) -> int:
        return int(self.offset.shape[0])


class _Builder:
    """Accumulates one chunk's packets in lists."""

    def __init__(self) -> None:
        self.offset: list[int] = []
        self.caplen: list[int] = []
        self.orig: list[int] = []
        self.ts: list[float] = []
        self.link: list[int] = []
        self.heads: list[bytes] = []

    def build(self, stats: CaptureStats, link: int | None = None) -> PacketChunk:
        """The chunk (``link`` for all packets, else per packet); counts it in ``stats``."""
        n = len(self.offset)
        chunk = PacketChunk(
            offset=np.asarray(self.offset, dtype=np.int64),
            caplen=np.asarray(self.caplen, dtype=np.int64),
            orig_len=np.asarray(self.orig, dtype=np.int64),
            ts=np.asarray(self.ts, dtype=np.float64),
            link=np.full(n, link, np.int64)
            if link is not None
            else np.asarray(self.link, np.int64),
            heads=self.heads,
        )
        stats.packets += n
        stats.snapped += int(np.count_nonzero(chunk.caplen < chunk.orig_len))
        for value, count in zip(*np.unique(chunk.link, return_counts=True), strict=True):
            stats.link_types[int(value)] = stats.link_types.get(int(value), 0) + int(count)
        return chunk


class CaptureReader:
    """Reads a pcap or pcapng file; raises DecodeError if it is neither (or unreadable)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with self.path.open("rb") as fh:
                size = self.path.stat().st_size
                if size < 4:
                    raise DecodeError(
                        f"{self.path}: empty or too short for a capture", "bad_capture"
                    )
                self._mm: mmap.mmap | None = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise DecodeError(
                f"cannot read capture {self.path}: {exc.strerror or exc}", "io"
            ) from None
        magic = self._mm[:4]
        if magic in PCAP_MAGICS:
            self.stats = CaptureStats("pcap")
        elif int.from_bytes(magic, "big") == PCAPNG_SHB:
            self.stats = CaptureStats("pcapng")
        else:
            self.close()
            raise DecodeError(f"{self.path}: not a pcap or pcapng capture", "bad_capture")

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unmap the file."""
        if self._mm is not None:
            self._mm.close()
            self._mm = None

    def read(self, offset: int, length: int) -> bytes:
        """Bytes of the file (e.g. a packet's UDP payload)."""
        assert self._mm is not None, "capture closed"
        return self._mm[offset : offset + length]

    def chunks(self, chunk: int = 65536) -> Iterator[PacketChunk]:
        """Packets in file order, ``chunk`` at a time."""
        assert self._mm is not None, "capture closed"
        if self.stats.format == "pcap":
            yield from self._pcap(self._mm, max(chunk, 1))
        else:
            yield from self._pcapng(self._mm, max(chunk, 1))

    def _pcap(self, mm: mmap.mmap, chunk: int) -> Iterator[PacketChunk]:
        size = len(mm)
        s = self.stats
        if size < 24:
            s.truncated_records += 1
            return
        endian, scale = PCAP_MAGICS[mm[:4]]
        snaplen, network = struct.unpack_from(endian + "II", mm, 16)
        link = network & 0xFFFF  # upper bits carry FCS information
        limit = max(snaplen, MAX_CAPLEN)
        unpack = struct.Struct(endian + "IIII").unpack_from
        b = _Builder()
        # The hot loop of offline analysis: plain list appends, no call per packet.
        offsets, caps, origs, stamps, heads = b.offset, b.caplen, b.orig, b.ts, b.heads
        off = 24
        while off < size:
            if off + 16 > size:
                s.truncated_records += 1
                break
            sec, frac, cap, orig = unpack(mm, off)
            start = off + 16
            if cap > limit:
                s.bad_records += 1
                break
            if start + cap > size:
                s.truncated_records += 1
                break
            offsets.append(start)
            caps.append(cap)
            origs.append(orig)
            stamps.append(sec + frac * scale)
            heads.append(mm[start : start + (cap if cap < HEAD_WIDTH else HEAD_WIDTH)])
            off = start + cap
            if len(offsets) >= chunk:
                yield b.build(s, link)
                b = _Builder()
                offsets, caps, origs, stamps, heads = b.offset, b.caplen, b.orig, b.ts, b.heads
        if offsets:
            yield b.build(s, link)

    def _pcapng(self, mm: mmap.mmap, chunk: int) -> Iterator[PacketChunk]:
        size = len(mm)
        s = self.stats
        endian = "<"
        # Per interface: (link type, snaplen, seconds per timestamp unit, offset in seconds)
        ifaces: list[tuple[int, int, float, int]] = []
        last_ts = 0.0
        b = _Builder()
        off = 0
        while off < size:
            if off + 12 > size:
                s.truncated_records += 1
                break
            btype = int.from_bytes(mm[off : off + 4], "big" if endian == ">" else "little")
            if btype == PCAPNG_SHB:
                bom = mm[off + 8 : off + 12]
                if bom not in _BOM:
                    s.bad_records += 1
                    break
                endian = _BOM[bom]
                ifaces = []
            blen = struct.unpack_from(endian + "I", mm, off + 4)[0]
            if blen < 12 or blen % 4:
                s.bad_records += 1
                break
            if off + blen > size:
                s.truncated_records += 1
                break
            body, end = off + 8, off + blen - 4
            packet: tuple[int, int, int, float, int] | None = None  # start, cap, orig, ts, link
            if btype == 1:  # interface description
                if end - body < 8:
                    s.bad_records += 1
                    break
                link, _, snaplen = struct.unpack_from(endian + "HHI", mm, body)
                scale, ts_offset = _if_options(mm, body + 8, end, endian)
                ifaces.append((link, snaplen, scale, ts_offset))
            elif btype in (6, 2):  # enhanced packet / obsolete packet block
                if end - body < 20:
                    s.bad_records += 1
                    break
                if btype == 6:
                    iface, hi, lo, cap, orig = struct.unpack_from(endian + "5I", mm, body)
                else:
                    iface, _, hi, lo, cap, orig = struct.unpack_from(endian + "HH4I", mm, body)
                if body + 20 + cap > end:
                    s.bad_records += 1
                    break
                if iface >= len(ifaces):
                    s.unknown_interface += 1
                else:
                    link, _, scale, ts_offset = ifaces[iface]
                    last_ts = ((hi << 32) | lo) * scale + ts_offset
                    packet = (body + 20, cap, orig, last_ts, link)
            elif btype == 3:  # simple packet block: interface 0, no timestamp
                if end - body < 4 or not ifaces:
                    s.unknown_interface += 1
                else:
                    orig = struct.unpack_from(endian + "I", mm, body)[0]
                    link, snaplen, _, _ = ifaces[0]
                    cap = min(orig, end - body - 4, snaplen or orig)
                    packet = (body + 4, cap, orig, last_ts, link)
            elif btype != PCAPNG_SHB:
                s.skipped_blocks += 1
            off += blen
            if packet is not None:
                start, cap, orig, ts, link = packet
                b.offset.append(start)
                b.caplen.append(cap)
                b.orig.append(orig)
                b.ts.append(ts)
                b.link.append(link)
                b.heads.append(mm[start : start + min(cap, HEAD_WIDTH)])
                if len(b.offset) >= chunk:
                    yield b.build(s)
                    b = _Builder()
        if b.offset:
            yield b.build(s)


def _if_options(mm: mmap.mmap, off: int, end: int, endian: str) -> tuple[float, int]:
    """(seconds per timestamp unit, timestamp offset) from an IDB's options."""
    scale, ts_offset = 1e-6, 0
    while off + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", mm, off)
        value = off + 4
        if code == 0 or value + length > end:
            break
        if code == 9 and length == 1:  # if_tsresol
            res = mm[value]
            scale = 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0**-res
        elif code == 14 and length == 8:  # if_tsoffset
            ts_offset = struct.unpack_from(endian + "q", mm, value)[0]
        off = value + (length + 3) // 4 * 4
    return scale, ts_offset
