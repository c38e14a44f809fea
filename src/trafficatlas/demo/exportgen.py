"""Synthetic NetFlow v9 / IPFIX export: realistic datagrams for the demo and the benchmarks.

Flows go from a few sites' private clients to public destinations drawn from the bundled ASN table
(Zipf over popular networks), with a day/night shape. The datagrams are real protocol encodings
(templates first, then data sets) built with NumPy structured arrays; they are sent to loopback only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# NetFlow v9 / IPFIX information elements used by the generator (id, length)
V4_FIELDS: tuple[tuple[int, int], ...] = (
    (8, 4),  # sourceIPv4Address
    (12, 4),  # destinationIPv4Address
    (7, 2),  # sourceTransportPort
    (11, 2),  # destinationTransportPort
    (4, 1),  # protocolIdentifier
    (6, 1),  # tcpControlBits
    (1, 8),  # octetDeltaCount
    (2, 8),  # packetDeltaCount
    (10, 4),  # ingressInterface
    (14, 4),  # egressInterface
)
V6_FIELDS: tuple[tuple[int, int], ...] = (
    (27, 16),  # sourceIPv6Address
    (28, 16),  # destinationIPv6Address
    *V4_FIELDS[2:],
)
# v9 adds FIRST/LAST_SWITCHED (sysUptime ms); IPFIX uses flowStart/EndMilliseconds
V9_TIME = ((22, 4), (21, 4))
IPFIX_TIME = ((152, 8), (153, 8))

TEMPLATE_V4 = 256
TEMPLATE_V6 = 257

POPULAR_ASNS = (
    15169, 13335, 16509, 8075, 32934, 2906, 20940, 14618, 54113, 24940, 16276, 14061, 3320, 3215,
    12322, 6830, 5089, 7922, 7018, 701, 3356, 1299, 174, 6939, 4134, 4837, 9808, 17676, 2516, 4766,
    9121, 12389, 8452, 36992, 7713, 4755, 9299, 18881, 28573, 8151, 22927, 6147, 3462, 4788, 45899,
    7552, 131090, 37963, 45090, 63949,
)  # fmt: skip


def _dtype(fields: tuple[tuple[int, int], ...]) -> np.dtype[np.void]:
    names = [f"f{i}_{fid}" for i, (fid, _) in enumerate(fields)]
    formats = []
    for _fid, length in fields:
        formats.append({1: "u1", 2: ">u2", 4: ">u4", 8: ">u8", 16: "V16"}[length])
    return np.dtype({"names": names, "formats": formats})


@dataclass(slots=True)
class FlowSpec:
    """Columns of synthetic flows to encode (IPv4 in *_lo with version 4)."""

    version: npt.NDArray[np.uint8]
    src_hi: npt.NDArray[np.uint64]
    src_lo: npt.NDArray[np.uint64]
    dst_hi: npt.NDArray[np.uint64]
    dst_lo: npt.NDArray[np.uint64]
    sport: npt.NDArray[np.uint16]
    dport: npt.NDArray[np.uint16]
    proto: npt.NDArray[np.uint8]
    bytes: npt.NDArray[np.uint64]
    packets: npt.NDArray[np.uint64]
    start_ms: npt.NDArray[np.uint64]  # epoch milliseconds
    end_ms: npt.NDArray[np.uint64]
    in_if: npt.NDArray[np.uint32]
    out_if: npt.NDArray[np.uint32]

    def __len__(self) -> int:
        return int(self.version.shape[0])


class ExportEncoder:
    """Encodes FlowSpec rows as NetFlow v9 (version=9) or IPFIX (version=10) datagrams."""

    def __init__(self, version: int = 9, source_id: int = 1, max_records: int = 24) -> None:
        if version not in (9, 10):
            raise ValueError("version must be 9 or 10")
        self.version = version
        self.source_id = source_id
        self.max_records = max_records
        self.sequence = 0
        self.boot_ms: int | None = None
        times = V9_TIME if version == 9 else IPFIX_TIME
        self.fields = {4: V4_FIELDS + times, 6: V6_FIELDS + times}
        self.dtypes = {4: _dtype(self.fields[4]), 6: _dtype(self.fields[6])}

    def template_datagram(self, now_ms: int) -> bytes:
        """A datagram holding both templates (send it first and then periodically)."""
        body = b""
        for tid, fam in ((TEMPLATE_V4, 4), (TEMPLATE_V6, 6)):
            fields = self.fields[fam]
            body += struct.pack("!HH", tid, len(fields))
            body += b"".join(struct.pack("!HH", fid, ln) for fid, ln in fields)
        set_id = 0 if self.version == 9 else 2
        fset = struct.pack("!HH", set_id, 4 + len(body)) + body
        return self._header(1 if self.version == 9 else 0, now_ms, len(fset)) + fset

    def _header(self, count: int, now_ms: int, payload_len: int) -> bytes:
        if self.boot_ms is None:
            self.boot_ms = now_ms - 3_600_000
        if self.version == 9:
            hdr = struct.pack(
                "!HHIIII",
                9,
                count,
                (now_ms - self.boot_ms) & 0xFFFFFFFF,
                now_ms // 1000,
                self.sequence,
                self.source_id,
            )
            self.sequence = (self.sequence + 1) & 0xFFFFFFFF
        else:
            hdr = struct.pack(
                "!HHIII", 10, 16 + payload_len, now_ms // 1000, self.sequence, self.source_id
            )
        return hdr

    def data_datagrams(self, flows: FlowSpec, now_ms: int) -> list[bytes]:
        """Data datagrams for ``flows`` (at most ``max_records`` records each)."""
        out: list[bytes] = []
        if self.boot_ms is None:
            self.boot_ms = now_ms - 3_600_000
        for fam, tid in ((4, TEMPLATE_V4), (6, TEMPLATE_V6)):
            idx = np.flatnonzero(flows.version == fam)
            if not len(idx):
                continue
            recs = self._records(flows, idx, fam)
            raw = recs.tobytes()
            size = recs.dtype.itemsize
            for i in range(0, len(idx), self.max_records):
                chunk = raw[i * size : (i + self.max_records) * size]
                n = len(chunk) // size
                pad = (-len(chunk)) % 4
                body = chunk + b"\0" * pad
                fset = struct.pack("!HH", tid, 4 + len(body)) + body
                if self.version == 10:
                    self.sequence = (self.sequence + n) & 0xFFFFFFFF
                out.append(self._header(n, now_ms, len(fset)) + fset)
        return out

    def _records(self, f: FlowSpec, idx: npt.NDArray[np.intp], fam: int) -> npt.NDArray[np.void]:
        dt = self.dtypes[fam]
        recs = np.zeros(len(idx), dtype=dt)
        names = dt.names
        assert names is not None
        if fam == 4:
            recs[names[0]] = f.src_lo[idx].astype(np.uint32)
            recs[names[1]] = f.dst_lo[idx].astype(np.uint32)
        else:
            recs[names[0]] = _v16(f.src_hi[idx], f.src_lo[idx])
            recs[names[1]] = _v16(f.dst_hi[idx], f.dst_lo[idx])
        recs[names[2]] = f.sport[idx]
        recs[names[3]] = f.dport[idx]
        recs[names[4]] = f.proto[idx]
        recs[names[5]] = np.where(f.proto[idx] == 6, 0x1B, 0).astype(np.uint8)
        recs[names[6]] = f.bytes[idx]
        recs[names[7]] = f.packets[idx]
        recs[names[8]] = f.in_if[idx]
        recs[names[9]] = f.out_if[idx]
        if self.version == 9:
            assert self.boot_ms is not None
            boot = np.uint64(self.boot_ms)
            recs[names[10]] = ((f.start_ms[idx] - boot) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
            recs[names[11]] = ((f.end_ms[idx] - boot) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        else:
            recs[names[10]] = f.start_ms[idx]
            recs[names[11]] = f.end_ms[idx]
        return recs


def _v16(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> npt.NDArray[np.void]:
    both = np.empty((len(hi), 2), dtype=">u8")
    both[:, 0] = hi
    both[:, 1] = lo
    return both.view("V16").reshape(-1)
