"""Special-purpose address ranges (RFC 6890 and friends): labelled, never geolocated."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.rangetable import RangeTable, Records, build_v4, build_v6


class Label(IntEnum):
    """Why an address is not geolocated (PUBLIC = it is)."""

    PUBLIC = 0
    PRIVATE = 1
    LOOPBACK = 2
    LINK_LOCAL = 3
    MULTICAST = 4
    SHARED = 5  # carrier-grade NAT, 100.64.0.0/10
    DOCUMENTATION = 6
    RESERVED = 7
    LOCAL = 8  # the site's own networks (set by the classify stage)


SPECIAL_RANGES: tuple[tuple[str, Label], ...] = (
    ("0.0.0.0/8", Label.RESERVED),
    ("10.0.0.0/8", Label.PRIVATE),
    ("100.64.0.0/10", Label.SHARED),
    ("127.0.0.0/8", Label.LOOPBACK),
    ("169.254.0.0/16", Label.LINK_LOCAL),
    ("172.16.0.0/12", Label.PRIVATE),
    ("192.0.0.0/24", Label.RESERVED),
    ("192.0.2.0/24", Label.DOCUMENTATION),
    ("192.88.99.0/24", Label.RESERVED),
    ("192.168.0.0/16", Label.PRIVATE),
    ("198.18.0.0/15", Label.RESERVED),
    ("198.51.100.0/24", Label.DOCUMENTATION),
    ("203.0.113.0/24", Label.DOCUMENTATION),
    ("224.0.0.0/4", Label.MULTICAST),
    ("240.0.0.0/4", Label.RESERVED),
    ("::/128", Label.RESERVED),
    ("::1/128", Label.LOOPBACK),
    ("64:ff9b:1::/48", Label.PRIVATE),
    ("100::/64", Label.RESERVED),
    ("2001:2::/48", Label.RESERVED),
    ("2001:db8::/32", Label.DOCUMENTATION),
    ("3fff::/20", Label.DOCUMENTATION),
    ("fc00::/7", Label.PRIVATE),
    ("fe80::/10", Label.LINK_LOCAL),
    ("ff00::/8", Label.MULTICAST),
)


@dataclass(slots=True)
class SpecialRanges:
    """Vectorized classifier of special-purpose addresses (a RangeTable whose values are labels)."""

    table: RangeTable

    @classmethod
    def build(cls, exempt: list[str] | tuple[str, ...] = ()) -> SpecialRanges:
        """The built-in ranges, minus ``exempt`` CIDRs (which are then looked up like public ones)."""
        intervals: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        for cidr, label in SPECIAL_RANGES:
            net = ipaddress.ip_network(cidr)
            intervals[net.version].append(
                (int(net.network_address), int(net.broadcast_address), int(label))
            )
        for cidr in exempt:
            net = ipaddress.ip_network(cidr, strict=False)
            intervals[net.version] = _subtract(
                intervals[net.version], int(net.network_address), int(net.broadcast_address)
            )
        v4 = sorted(intervals[4])
        v6 = sorted(intervals[6])
        s4, l4, p4 = build_v4(
            np.array([a for a, _, _ in v4], dtype=np.uint64),
            np.array([b for _, b, _ in v4], dtype=np.uint64),
            np.array([c for _, _, c in v4], dtype=np.int32),
        )
        hi6, lo6, l6, p6 = build_v6(
            [a for a, _, _ in v6], [b for _, b, _ in v6], np.array([c for _, _, c in v6])
        )
        return cls(RangeTable(s4, l4, p4, hi6, lo6, l6, p6, Records()))

    def classify(
        self,
        version: npt.NDArray[np.uint8],
        hi: npt.NDArray[np.uint64],
        lo: npt.NDArray[np.uint64],
    ) -> npt.NDArray[np.uint8]:
        """Label per address (Label values as uint8; gaps are PUBLIC)."""
        out = np.zeros(len(version), dtype=np.uint8)
        is4 = version == 4
        if is4.any():
            v, _ = self.table.lookup_v4(lo[is4])
            out[is4] = np.maximum(v, 0).astype(np.uint8)
        is6 = ~is4
        if is6.any():
            v, _ = self.table.lookup_v6(hi[is6].astype(np.uint64), lo[is6].astype(np.uint64))
            out[is6] = np.maximum(v, 0).astype(np.uint8)
        return out


def _subtract(
    intervals: list[tuple[int, int, int]], start: int, end: int
) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for a, b, label in intervals:
        if b < start or a > end:
            out.append((a, b, label))
            continue
        if a < start:
            out.append((a, start - 1, label))
        if b > end:
            out.append((end + 1, b, label))
    return out


def label_name(label: int) -> str | None:
    """Upper-case label shown to users (None for public addresses)."""
    if label == Label.PUBLIC:
        return None
    return Label(label).name
