"""NetFlow v9 / IPFIX data templates compiled into NumPy record layouts.

A template becomes one structured dtype with big-endian fields at their offsets and the unused
fields left as padding, so all records of a data set decode with one ``np.frombuffer``. Layouts are
cached by their definition: many exporters sending the same template share one layout, and their
records are decoded together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

VARLEN = 0xFFFF  # IPFIX variable-length field (RFC 7011 §7)
REVERSE_PEN = 29305  # RFC 5103 reverse information elements
V9_SCOPE = -1  # pseudo enterprise number of NetFlow v9 options scope fields (types 1-5)

# (enterprise, element id) -> column key. Element ids are shared by v9 and IPFIX.
ELEMENTS: dict[tuple[int, int], str] = {
    (0, 1): "bytes",
    (0, 2): "packets",
    (0, 3): "flows",
    (0, 4): "proto",
    (0, 6): "tcp_flags",
    (0, 7): "sport",
    (0, 8): "src4",
    (0, 10): "in_if",
    (0, 11): "dport",
    (0, 12): "dst4",
    (0, 14): "out_if",
    (0, 21): "end_uptime",
    (0, 22): "start_uptime",
    (0, 23): "out_bytes",
    (0, 24): "out_packets",
    (0, 27): "src6",
    (0, 28): "dst6",
    (0, 32): "icmp4",
    (0, 34): "rate_interval",
    (0, 48): "sampler_id",
    (0, 50): "rate_random",
    (0, 60): "ip_version",
    (0, 85): "bytes_total",
    (0, 86): "packets_total",
    (0, 139): "icmp6",
    (0, 150): "start_s",
    (0, 151): "end_s",
    (0, 152): "start_ms",
    (0, 153): "end_ms",
    (0, 154): "start_us",
    (0, 155): "end_us",
    (0, 156): "start_ns",
    (0, 157): "end_ns",
    (0, 158): "start_delta_us",
    (0, 159): "end_delta_us",
    (0, 160): "sysinit_ms",
    (0, 161): "duration_ms",
    (0, 176): "icmp4_type",
    (0, 177): "icmp4_code",
    (0, 178): "icmp6_type",
    (0, 179): "icmp6_code",
    (0, 180): "udp_sport",
    (0, 181): "udp_dport",
    (0, 182): "tcp_sport",
    (0, 183): "tcp_dport",
    (0, 302): "selector_id",
    (0, 305): "pkt_interval",
    (0, 306): "pkt_space",
    (REVERSE_PEN, 1): "r_bytes",
    (REVERSE_PEN, 2): "r_packets",
    (REVERSE_PEN, 6): "r_tcp_flags",
    (REVERSE_PEN, 32): "r_icmp4",
    (REVERSE_PEN, 85): "r_bytes_total",
    (REVERSE_PEN, 86): "r_packets_total",
    (REVERSE_PEN, 139): "r_icmp6",
}
# Keys whose field must have exactly this length; every other key is an unsigned integer of
# 1..8 octets (reduced-size encoding, RFC 7011 §6.2).
_EXACT = {"src4": 4, "dst4": 4, "src6": 16, "dst6": 16}
_EXACT.update(dict.fromkeys(("start_us", "end_us", "start_ns", "end_ns"), 8))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field specifier of a template."""

    element: int
    length: int
    enterprise: int = 0


class DataLayout:
    """A compiled data template: the record dtype and the column keys it carries."""

    __slots__ = ("dtype", "fixed", "keys", "min_reclen", "odd", "reclen", "specs", "version")

    def __init__(self, version: int, specs: tuple[FieldSpec, ...]) -> None:
        self.version = version
        self.specs = specs
        self.fixed: DataLayout | None = None  # for variable-length templates: the fixed part
        self.min_reclen = sum(1 if s.length == VARLEN else s.length for s in specs)
        if any(s.length == VARLEN for s in specs):
            self.fixed = data_layout(version, tuple(s for s in specs if s.length != VARLEN))
        names: list[str] = []
        formats: list[Any] = []
        offsets: list[int] = []
        self.odd: dict[str, int] = {}
        offset = 0
        for spec in specs if self.fixed is None else ():
            key = ELEMENTS.get((spec.enterprise, spec.element))
            if key is not None and key not in names and _usable(key, spec.length):
                names.append(key)
                offsets.append(offset)
                formats.append(_format(key, spec.length))
                if spec.length not in (1, 2, 4, 8) and key not in _EXACT:
                    self.odd[key] = spec.length
            offset += spec.length
        self.reclen = offset if self.fixed is None else 0
        self.keys = frozenset(names)
        self.dtype = np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": self.reclen}
        )

    def column(self, records: npt.NDArray[Any], key: str) -> npt.NDArray[np.uint64]:
        """An unsigned integer column as uint64 (reduced-size fields widened)."""
        if key in self.odd:
            raw = records[key]
            out = np.zeros(len(records), dtype=np.uint64)
            for i in range(self.odd[key]):
                out = (out << np.uint64(8)) | raw[:, i].astype(np.uint64)
            return out
        return np.asarray(records[key]).astype(np.uint64)


def _usable(key: str, length: int) -> bool:
    exact = _EXACT.get(key)
    return length == exact if exact is not None else 1 <= length <= 8


def _format(key: str, length: int) -> Any:
    if key in ("src6", "dst6"):
        return (">u8", (2,))
    if key in _EXACT or length in (1, 2, 4, 8):
        return f">u{length}"
    return ("u1", (length,))


_LAYOUTS: dict[tuple[int, tuple[FieldSpec, ...]], DataLayout] = {}
_LAYOUT_CACHE_MAX = 4096


def data_layout(version: int, specs: tuple[FieldSpec, ...]) -> DataLayout:
    """The shared compiled layout of a template definition."""
    key = (version, specs)
    layout = _LAYOUTS.get(key)
    if layout is None:
        if len(_LAYOUTS) >= _LAYOUT_CACHE_MAX:
            _LAYOUTS.clear()  # layouts still referenced by templates stay alive
        layout = _LAYOUTS[key] = DataLayout(version, specs)
    return layout


def read_varlen_records(
    specs: tuple[FieldSpec, ...], data: bytes, start: int, stop: int, min_reclen: int
) -> tuple[list[list[bytes]], bool]:
    """Split records of a template with variable-length fields into per-field byte strings.

    Returns (records, truncated): trailing bytes shorter than a minimal record are padding; a
    record running past ``stop`` sets ``truncated``. Every length is checked, so this terminates.
    """
    records: list[list[bytes]] = []
    off = start
    while stop - off >= min_reclen:
        values: list[bytes] = []
        for spec in specs:
            length = spec.length
            if length == VARLEN:
                length = data[off]
                off += 1
                if length == 255:
                    if off + 2 > stop:
                        return records, True
                    length = (data[off] << 8) | data[off + 1]
                    off += 2
            if off + length > stop:
                return records, True
            values.append(data[off : off + length])
            off += length
        records.append(values)
    return records, False


def fixed_part(layout: DataLayout, data: bytes, start: int, stop: int) -> tuple[bytes, int, bool]:
    """Re-pack variable-length records into the fixed layout ``layout.fixed`` (slow path)."""
    records, truncated = read_varlen_records(layout.specs, data, start, stop, layout.min_reclen)
    keep = [i for i, s in enumerate(layout.specs) if s.length != VARLEN]
    payload = b"".join(b"".join(values[i] for i in keep) for values in records)
    return payload, len(records), truncated
