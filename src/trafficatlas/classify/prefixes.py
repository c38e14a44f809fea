"""PrefixTable: CIDR prefixes → integer values, most specific prefix wins, looked up per batch."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.rangetable import RangeTable, Records, build_v4, build_v6

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
I32 = npt.NDArray[np.int32]


def parse_network(value: str | Network) -> Network:
    """A network from CIDR text (host bits allowed) or a bare address (/32, /128)."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not a CIDR or IP address: {value!r}") from None


def flatten(nets: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Disjoint sorted ranges from nested-or-disjoint (start, end, value) CIDR ranges.

    Where prefixes overlap the most specific wins; for identical prefixes the last one given.
    """
    order = sorted(range(len(nets)), key=lambda i: (nets[i][0], -(nets[i][1] - nets[i][0]), i))
    out: list[tuple[int, int, int]] = []
    stack: list[tuple[int, int]] = []  # (end, value) of the prefixes enclosing the cursor
    cursor = 0

    def emit(end: int, value: int) -> None:
        nonlocal cursor
        if cursor <= end:
            out.append((cursor, end, value))
            cursor = end + 1

    for i in order:
        start, end, value = nets[i]
        while stack and stack[-1][0] < start:
            emit(*stack.pop())
        if stack:
            emit(start - 1, stack[-1][1])
        cursor = max(cursor, start)
        stack.append((end, value))
    while stack:
        emit(*stack.pop())
    return out


class PrefixTable:
    """Longest-prefix match of addresses against a set of prefixes with integer values."""

    def __init__(self, entries: Iterable[tuple[str | Network, int]] = ()) -> None:
        ranges: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        count = 0
        for prefix, value in entries:
            if value < 0:
                raise ValueError(f"prefix values must be >= 0, got {value} for {prefix}")
            net = parse_network(prefix)
            ranges[net.version].append(
                (int(net.network_address), int(net.broadcast_address), int(value))
            )
            count += 1
        self.size = count
        v4 = flatten(ranges[4])
        v6 = flatten(ranges[6])
        s4, val4, p4 = build_v4(
            np.array([r[0] for r in v4], dtype=np.uint64),
            np.array([r[1] for r in v4], dtype=np.uint64),
            np.array([r[2] for r in v4], dtype=np.int32),
        )
        hi6, lo6, val6, p6 = build_v6(
            [r[0] for r in v6], [r[1] for r in v6], np.array([r[2] for r in v6], dtype=np.int32)
        )
        self._table = RangeTable(s4, val4, p4, hi6, lo6, val6, p6, Records())

    def __len__(self) -> int:
        return self.size

    def lookup(
        self,
        version: npt.NDArray[np.uint8],
        hi: npt.NDArray[np.uint64],
        lo: npt.NDArray[np.uint64],
    ) -> I32:
        """Value of the most specific matching prefix per address, -1 where none matches."""
        out = np.full(len(version), -1, dtype=np.int32)
        if not self.size or not len(version):
            return out
        is4 = version == 4
        if is4.any():
            out[is4] = self._table.lookup_v4(lo[is4])[0]
        is6 = ~is4
        if is6.any():
            out[is6] = self._table.lookup_v6(hi[is6].astype(np.uint64), lo[is6].astype(np.uint64))[
                0
            ]
        return out
