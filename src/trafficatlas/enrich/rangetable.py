"""RangeTable: sorted address intervals → record index, looked up for whole batches.

A table covers the whole address space of each family with contiguous ranges: range ``i`` runs
from ``starts[i]`` up to ``starts[i+1] - 1`` (the last one to the end of the space). A value of
``-1`` marks a gap (no data). IPv4 starts are uint32; IPv6 starts are split into (hi, lo) uint64
halves. Lookups use ``np.searchsorted`` on the starts; IPv6 resolves the rare ranges that share
their upper 64 bits with a vectorized bisection on the lower half.

``prefix`` holds the prefix length of the network a range came from (an mmdb tree leaf), or
``PREFIX_FROM_RANGE`` for ranges from CSV files, whose matching network is computed at lookup as the
largest CIDR block around the address inside the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

PREFIX_FROM_RANGE = 255
NO_VALUE = -1

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I32 = npt.NDArray[np.int32]

# Record columns a table may carry, and their dtypes. Strings are object arrays of str | None.
RECORD_COLUMNS: dict[str, Any] = {
    "country": np.uint16,  # encode_country(); 0 = unknown
    "city": object,
    "region": object,
    "latitude": np.float64,  # NaN = unknown
    "longitude": np.float64,
    "asn": np.uint32,  # 0 = unknown
    "as_org": object,
}


@dataclass(slots=True)
class Records:
    """The distinct records a table's ranges point at, as columns (row i = value index i)."""

    columns: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        for col in self.columns.values():
            return int(col.shape[0])
        return 0

    def has(self, name: str) -> bool:
        return name in self.columns

    def gather(self, name: str, index: I32) -> npt.NDArray[Any]:
        """Column ``name`` for each value index (``-1`` → the column's missing value)."""
        col = self.columns[name]
        missing = index < 0
        safe = np.where(missing, 0, index) if len(col) else np.zeros_like(index)
        if not len(col):
            out: npt.NDArray[Any] = np.empty(index.shape, dtype=col.dtype)
        else:
            out = col[safe]
        if missing.any():
            out = out.copy()
            out[missing] = missing_value(col.dtype)
        return out


def missing_value(dtype: np.dtype[Any]) -> Any:
    """The value that stands for "unknown" in a column of ``dtype``."""
    if dtype.kind == "O":
        return None
    if np.issubdtype(dtype, np.floating):
        return np.nan
    return 0


@dataclass(slots=True)
class RangeTable:
    """Contiguous ranges over IPv4 and IPv6 pointing at :class:`Records` rows."""

    v4_starts: U32
    v4_values: I32
    v4_prefix: U8
    v6_hi: U64
    v6_lo: U64
    v6_values: I32
    v6_prefix: U8
    records: Records
    # IPv6 regions that an mmdb tree aliases to its IPv4 subtree (found while walking it):
    # "::/96" (IPv4-compatible), "::ffff:0:0/96" (IPv4-mapped), "2002::/16" (6to4).
    # Lookups in these regions answer from the IPv4 arrays, as libmaxminddb does.
    v4_aliases: tuple[str, ...] = ()
    # derived lazily from v6_hi (see _group_first); not stored in table files
    v6_group_first: npt.NDArray[np.intp] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.v4_starts) == 0 or self.v4_starts[0] != 0:
            raise ValueError("IPv4 ranges must start at 0")
        if len(self.v6_hi) == 0 or self.v6_hi[0] != 0 or self.v6_lo[0] != 0:
            raise ValueError("IPv6 ranges must start at ::")

    @property
    def networks(self) -> int:
        """Ranges that carry data (both families)."""
        return int((self.v4_values >= 0).sum() + (self.v6_values >= 0).sum())

    def nbytes(self) -> int:
        """Memory held by the range arrays (records excluded)."""
        return sum(
            a.nbytes
            for a in (
                self.v4_starts,
                self.v4_values,
                self.v4_prefix,
                self.v6_hi,
                self.v6_lo,
                self.v6_values,
                self.v6_prefix,
            )
        )

    # -- lookups -----------------------------------------------------------------------------

    def lookup_v4(self, addr: U32 | U64) -> tuple[I32, npt.NDArray[np.intp]]:
        """Value index and range position for IPv4 addresses (as integers)."""
        a = np.asarray(addr).astype(np.uint32, copy=False)
        pos = np.searchsorted(self.v4_starts, a, side="right") - 1
        return self.v4_values[pos], pos

    def _group_first(self) -> npt.NDArray[np.intp]:
        """For each IPv6 entry, the index of the first entry with the same upper half."""
        if self.v6_group_first is None or len(self.v6_group_first) != len(self.v6_hi):
            change = np.r_[True, self.v6_hi[1:] != self.v6_hi[:-1]]
            starts = np.flatnonzero(change)
            self.v6_group_first = starts[np.cumsum(change) - 1]
        return self.v6_group_first

    def lookup_v6(self, hi: U64, lo: U64) -> tuple[I32, npt.NDArray[np.intp]]:
        """Value index and range position for IPv6 addresses given as (hi, lo) halves."""
        pos = np.searchsorted(self.v6_hi, hi, side="right") - 1
        same = self.v6_hi[pos] == hi
        if same.any():
            sel = np.flatnonzero(same)
            qlo = lo[sel]
            psel = pos[sel]
            # Entries sharing this upper half occupy [first, pos]. Mostly that is one entry
            # (the range starts exactly there): compare the lower halves directly.
            first = self._group_first()[psel]
            single = first == psel
            direct = np.where(self.v6_lo[psel] <= qlo, psel, psel - 1)
            if not single.all():
                # several starts share the upper half: bisect them on the lower half for the
                # last start <= address (or the range before the group when none is)
                multi = np.flatnonzero(~single)
                mlo = qlo[multi]
                lo_i = first[multi].copy()
                hi_i = psel[multi] + 1
                while True:
                    active = lo_i < hi_i
                    if not active.any():
                        break
                    mid = (lo_i + hi_i) // 2
                    cond = active & (self.v6_lo[np.minimum(mid, len(self.v6_lo) - 1)] <= mlo)
                    lo_i = np.where(cond, mid + 1, lo_i)
                    hi_i = np.where(active & ~cond, mid, hi_i)
                direct[multi] = lo_i - 1
            pos[sel] = direct
        return self.v6_values[pos], pos

    def values(self, family: int, hi: U64, lo: U64) -> I32:
        """Value index only, for addresses of one family (the fast path: no network).

        Queries sorted by address run several times faster (searchsorted walks forward).
        IPv6 rows in the table's IPv4 alias regions are answered from the IPv4 arrays.
        """
        if family == 4:
            return self.v4_values[
                np.searchsorted(self.v4_starts, lo.astype(np.uint32), side="right") - 1
            ]
        if self.v4_aliases:
            version = np.full(len(hi), 6, dtype=np.uint8)
            v2, h2, l2 = self._apply_aliases(version, hi, lo)
            redirected = v2 == 4
            if redirected.any():
                out = np.empty(len(hi), dtype=np.int32)
                out[redirected] = self.values(4, h2[redirected], l2[redirected])
                keep = ~redirected
                out[keep], _ = self.lookup_v6(hi[keep], lo[keep])
                return out
        vals, _ = self.lookup_v6(hi, lo)
        return vals

    def lookup(self, version: U8, hi: U64, lo: U64) -> tuple[I32, U8, U64, U64]:
        """Value index, matched prefix length and network address (hi, lo) per address.

        ``version`` 4 rows use ``lo`` as the IPv4 address. Rows without data get value -1 and
        prefix 0 (network = the address itself).
        """
        version, hi, lo = self._apply_aliases(version, hi, lo)
        n = len(version)
        values = np.full(n, NO_VALUE, dtype=np.int32)
        prefix = np.zeros(n, dtype=np.uint8)
        net_hi = hi.astype(np.uint64, copy=True)
        net_lo = lo.astype(np.uint64, copy=True)
        is4 = version == 4
        if is4.any():
            idx = np.flatnonzero(is4)
            a = lo[idx].astype(np.uint32)
            v, pos = self.lookup_v4(a)
            p = self.v4_prefix[pos]
            start = self.v4_starts[pos].astype(np.uint64)
            end = np.where(
                pos + 1 < len(self.v4_starts),
                self.v4_starts[np.minimum(pos + 1, len(self.v4_starts) - 1)].astype(np.uint64)
                - np.uint64(1),
                np.uint64(0xFFFF_FFFF),
            )
            p, nlo = _network_v4(a.astype(np.uint64), start, end, p)
            values[idx] = v
            prefix[idx] = np.where(v >= 0, p, 0)
            net_lo[idx] = np.where(v >= 0, nlo, a)
            net_hi[idx] = 0
        is6 = ~is4
        if is6.any():
            idx = np.flatnonzero(is6)
            qhi = hi[idx].astype(np.uint64)
            qlo = lo[idx].astype(np.uint64)
            v, pos = self.lookup_v6(qhi, qlo)
            p = self.v6_prefix[pos]
            nhi, nlo, p = _network_v6(self, qhi, qlo, pos, p)
            values[idx] = v
            has = v >= 0
            prefix[idx] = np.where(has, p, 0)
            net_hi[idx] = np.where(has, nhi, qhi)
            net_lo[idx] = np.where(has, nlo, qlo)
        return values, prefix, net_hi, net_lo

    def _apply_aliases(self, version: U8, hi: U64, lo: U64) -> tuple[U8, U64, U64]:
        if not self.v4_aliases:
            return version, hi, lo
        is6 = version == 6
        redirect = np.zeros(len(version), dtype=bool)
        v4addr = np.zeros(len(version), dtype=np.uint64)
        for alias in self.v4_aliases:
            if alias == "::/96":
                m = is6 & (hi == 0) & ((lo >> np.uint64(32)) == 0)
                v4addr = np.where(m, lo & np.uint64(0xFFFF_FFFF), v4addr)
            elif alias == "::ffff:0:0/96":
                m = is6 & (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
                v4addr = np.where(m, lo & np.uint64(0xFFFF_FFFF), v4addr)
            elif alias == "2002::/16":
                m = is6 & ((hi >> np.uint64(48)) == np.uint64(0x2002))
                v4addr = np.where(m, (hi >> np.uint64(16)) & np.uint64(0xFFFF_FFFF), v4addr)
            else:
                raise ValueError(f"unknown IPv4 alias region {alias!r}")
            redirect |= m
        if not redirect.any():
            return version, hi, lo
        return (
            np.where(redirect, np.uint8(4), version).astype(np.uint8),
            np.where(redirect, np.uint64(0), hi).astype(np.uint64),
            np.where(redirect, v4addr, lo).astype(np.uint64),
        )


def _network_v4(addr: U64, start: U64, end: U64, prefix: U8) -> tuple[U8, U64]:
    """Prefix length and network address; ranges marked PREFIX_FROM_RANGE get the largest block."""
    out_p = prefix.astype(np.uint8, copy=True)
    net = np.zeros_like(addr)
    tree = prefix != PREFIX_FROM_RANGE
    if tree.any():
        # A tree leaf's start is its network address.
        net[tree] = start[tree]
    rng = ~tree
    if rng.any():
        a = addr[rng]
        s = start[rng]
        e = end[rng]
        best = np.full(a.shape, 32, dtype=np.uint8)
        best_net = a.copy()
        for plen in range(31, -1, -1):
            size = np.uint64(1) << np.uint64(32 - plen)
            base = a & ~(size - np.uint64(1)) & np.uint64(0xFFFF_FFFF)
            fits = (base >= s) & (base + size - np.uint64(1) <= e)
            ok = fits & (best == plen + 1)
            best[ok] = plen
            best_net[ok] = base[ok]
        out_p[rng] = best
        net[rng] = best_net
    return out_p, net


def _network_v6(
    table: RangeTable, hi: U64, lo: U64, pos: npt.NDArray[np.intp], prefix: U8
) -> tuple[U64, U64, U8]:
    """Network (hi, lo) and prefix for IPv6 rows; CSV ranges get the largest CIDR block."""
    nhi = table.v6_hi[pos].copy()
    nlo = table.v6_lo[pos].copy()
    out_p = prefix.astype(np.uint8, copy=True)
    rng = np.flatnonzero(prefix == PREFIX_FROM_RANGE)
    if len(rng):
        last = len(table.v6_hi) - 1
        for j in rng:  # CSV-derived IPv6 ranges: rare enough per batch for a scalar walk
            q = (int(hi[j]) << 64) | int(lo[j])
            i = int(pos[j])
            s = (int(table.v6_hi[i]) << 64) | int(table.v6_lo[i])
            if i < last:
                e = ((int(table.v6_hi[i + 1]) << 64) | int(table.v6_lo[i + 1])) - 1
            else:
                e = (1 << 128) - 1
            plen, base = largest_block(q, s, e, 128)
            out_p[j] = plen
            nhi[j] = base >> 64
            nlo[j] = base & 0xFFFF_FFFF_FFFF_FFFF
    return nhi, nlo, out_p


def largest_block(addr: int, start: int, end: int, bits: int) -> tuple[int, int]:
    """The shortest prefix (largest CIDR block) containing ``addr`` within [start, end]."""
    for plen in range(bits + 1):
        size = 1 << (bits - plen)
        base = addr & ~(size - 1) & ((1 << bits) - 1)
        if base >= start and base + size - 1 <= end:
            return plen, base
    return bits, addr


# -- building ---------------------------------------------------------------------------------


def build_v4(
    starts: npt.NDArray[Any],
    ends: npt.NDArray[Any],
    values: npt.NDArray[Any],
    prefix: npt.NDArray[Any] | None = None,
) -> tuple[U32, I32, U8]:
    """Contiguous IPv4 arrays from inclusive [start, end] ranges (sorted, non-overlapping).

    Gaps become ``-1`` ranges; adjacent ranges with the same value and no prefix are merged.
    """
    s = np.asarray(starts, dtype=np.uint64)
    e = np.asarray(ends, dtype=np.uint64)
    v = np.asarray(values, dtype=np.int32)
    p = (
        np.full(len(s), PREFIX_FROM_RANGE, dtype=np.uint8)
        if prefix is None
        else np.asarray(prefix, dtype=np.uint8)
    )
    _check_sorted(s, e)
    out_s, out_v, out_p = _fill_gaps(s, e, v, p, top=np.uint64(0xFFFF_FFFF))
    return out_s.astype(np.uint32), out_v, out_p


def build_v6(
    starts: list[int] | npt.NDArray[Any],
    ends: list[int] | npt.NDArray[Any],
    values: npt.NDArray[Any],
    prefix: npt.NDArray[Any] | None = None,
) -> tuple[U64, U64, I32, U8]:
    """Contiguous IPv6 arrays from inclusive [start, end] ranges given as Python ints."""
    n = len(starts)
    v = np.asarray(values, dtype=np.int32)
    p = (
        np.full(n, PREFIX_FROM_RANGE, dtype=np.uint8)
        if prefix is None
        else np.asarray(prefix, dtype=np.uint8)
    )
    s_hi, s_lo = split128(starts)
    e_hi, e_lo = split128(ends)
    return build_v6_split(s_hi, s_lo, e_hi, e_lo, v, p)


def build_v6_split(
    s_hi: U64, s_lo: U64, e_hi: U64, e_lo: U64, values: I32, prefix: U8
) -> tuple[U64, U64, I32, U8]:
    """Contiguous IPv6 arrays from inclusive ranges given as (hi, lo) halves, sorted."""
    n = len(s_hi)
    one = np.uint64(1)
    maxv = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
    if n:
        # next address after each end, with carry; a range ending at the top has no successor
        nxt_lo = e_lo + one
        carry = e_lo == maxv
        nxt_hi = e_hi + carry.astype(np.uint64)
        at_top = carry & (e_hi == maxv)
        # gap before range i exists when start_i != next(end_{i-1})
        gap_before = np.ones(n, dtype=bool)
        gap_before[0] = not (s_hi[0] == 0 and s_lo[0] == 0)
        if n > 1:
            gap_before[1:] = ~((s_hi[1:] == nxt_hi[:-1]) & (s_lo[1:] == nxt_lo[:-1]))
        tail_gap = not bool(at_top[-1])
    else:
        gap_before = np.zeros(0, dtype=bool)
        tail_gap = False  # the single gap is counted below (n == 0)
        nxt_hi = nxt_lo = np.zeros(0, dtype=np.uint64)
    total = n + int(gap_before.sum()) + (1 if tail_gap else 0) + (1 if n == 0 else 0)
    out_hi = np.zeros(total, dtype=np.uint64)
    out_lo = np.zeros(total, dtype=np.uint64)
    out_v = np.full(total, NO_VALUE, dtype=np.int32)
    out_p = np.zeros(total, dtype=np.uint8)
    if n:
        # position of each data range in the output: its index plus the gaps inserted before it
        offs = np.arange(n) + np.cumsum(gap_before)
        out_hi[offs] = s_hi
        out_lo[offs] = s_lo
        out_v[offs] = values
        out_p[offs] = prefix
        gpos = offs[gap_before] - 1  # a gap sits right before its range
        gidx = np.flatnonzero(gap_before)
        prev = gidx - 1
        has_prev = prev >= 0
        out_hi[gpos[has_prev]] = nxt_hi[prev[has_prev]]
        out_lo[gpos[has_prev]] = nxt_lo[prev[has_prev]]
        # a gap at index 0 starts at :: (already zero)
        if tail_gap:
            out_hi[-1] = nxt_hi[-1]
            out_lo[-1] = nxt_lo[-1]
    return out_hi, out_lo, out_v, out_p


def split128(values: list[int] | npt.NDArray[Any]) -> tuple[U64, U64]:
    """Split Python ints (or a uint64 pair array) into (hi, lo) uint64 arrays."""
    mask = (1 << 64) - 1
    hi = np.fromiter(((int(x) >> 64) & mask for x in values), dtype=np.uint64, count=len(values))
    lo = np.fromiter((int(x) & mask for x in values), dtype=np.uint64, count=len(values))
    return hi, lo


def _check_sorted(s: U64, e: U64) -> None:
    if len(s) and (np.any(e < s) or np.any(s[1:] <= e[:-1])):
        raise ValueError("ranges must be sorted, non-overlapping and have start <= end")


def _fill_gaps(s: U64, e: U64, v: I32, p: U8, top: np.uint64) -> tuple[U64, I32, U8]:
    n = len(s)
    if n == 0:
        return np.zeros(1, np.uint64), np.full(1, NO_VALUE, np.int32), np.zeros(1, np.uint8)
    gap_before = np.ones(n, dtype=bool)
    gap_before[0] = s[0] != 0
    gap_before[1:] = s[1:] != e[:-1] + np.uint64(1)
    tail_gap = bool(e[-1] < top)
    total = n + int(gap_before.sum()) + (1 if tail_gap else 0)
    out_s = np.zeros(total, dtype=np.uint64)
    out_v = np.full(total, NO_VALUE, dtype=np.int32)
    out_p = np.zeros(total, dtype=np.uint8)
    offs = np.arange(n) + np.cumsum(gap_before)
    out_s[offs] = s
    out_v[offs] = v
    out_p[offs] = p
    gidx = np.flatnonzero(gap_before)
    has_prev = gidx > 0
    out_s[offs[gidx[has_prev]] - 1] = e[gidx[has_prev] - 1] + np.uint64(1)
    if tail_gap:
        out_s[-1] = e[-1] + np.uint64(1)
    # merge neighbours with equal value when both came from ranges (no tree prefix to keep)
    keep = np.ones(total, dtype=bool)
    keep[1:] = ~(
        (out_v[1:] == out_v[:-1])
        & (out_p[1:] == PREFIX_FROM_RANGE)
        & (out_p[:-1] == PREFIX_FROM_RANGE)
    )
    # gaps (prefix 0, value -1) merge with gaps too
    keep[1:] &= ~((out_v[1:] == NO_VALUE) & (out_v[:-1] == NO_VALUE))
    return out_s[keep], out_v[keep], out_p[keep]


def empty_table(records: Records | None = None) -> RangeTable:
    """A table that knows nothing (one gap per family)."""
    return RangeTable(
        v4_starts=np.zeros(1, np.uint32),
        v4_values=np.full(1, NO_VALUE, np.int32),
        v4_prefix=np.zeros(1, np.uint8),
        v6_hi=np.zeros(1, np.uint64),
        v6_lo=np.zeros(1, np.uint64),
        v6_values=np.full(1, NO_VALUE, np.int32),
        v6_prefix=np.zeros(1, np.uint8),
        records=records or Records(),
    )
