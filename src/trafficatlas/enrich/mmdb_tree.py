"""Vectorized walk of a MaxMind DB search tree into its leaf networks.

The tree is walked breadth-first, one level (one address bit) at a time: the records of every
node at that depth are decoded together from a NumPy view of the tree, so a city database with
millions of nodes takes a few dozen array operations per level instead of a Python step per node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

IPV4_SUBTREE_DEPTH = 96  # IPv4 data of an IPv6 tree lives under ::/96
_ALL64 = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_V4_MAPPED_LO = np.uint64(0xFFFF << 32)
_SIX_TO_FOUR_HI = np.uint64(0x2002 << 48)


class CorruptTreeError(Exception):
    """The search tree is inconsistent (bad record, cycle, too deep); the message says how."""


@dataclass(slots=True)
class Leaves:
    """Leaf networks of one family, sorted by start: (hi, lo) start, prefix length, data offset.

    IPv4 starts are in ``lo``. ``offset`` is relative to the start of the data section.
    """

    hi: U64
    lo: U64
    prefix: U8
    offset: I64

    def __len__(self) -> int:
        return len(self.offset)


@dataclass(slots=True)
class TreeLeaves:
    """All leaves of a tree, per family, plus the IPv6 regions aliased to the IPv4 subtree."""

    v4: Leaves
    v6: Leaves
    v4_aliases: tuple[str, ...]


class _RecordReader:
    """Decodes the (left, right) records of arrays of node ids."""

    def __init__(self, tree: U8, node_count: int, record_size: int) -> None:
        width = record_size // 4  # bytes per node: 6, 7 or 8
        self.nodes = tree[: node_count * width].reshape(node_count, width)
        self.record_size = record_size

    def __call__(self, ids: I64) -> tuple[I64, I64]:
        rows = self.nodes[ids]
        if self.record_size == 32:
            pair = rows.view(">u4")
        else:
            # Lay each record out as 4 big-endian bytes and read both at once.
            buf = np.zeros((len(ids), 8), dtype=np.uint8)
            if self.record_size == 24:
                buf[:, 1:4] = rows[:, 0:3]
                buf[:, 5:8] = rows[:, 3:6]
            else:  # 28: the middle byte holds the top nibble of each record
                buf[:, 0] = rows[:, 3] >> 4
                buf[:, 1:4] = rows[:, 0:3]
                buf[:, 4] = rows[:, 3] & 0x0F
                buf[:, 5:8] = rows[:, 4:7]
            pair = buf.view(">u4")
        return pair[:, 0].astype(np.int64), pair[:, 1].astype(np.int64)


class _Walker:
    def __init__(self, reader: _RecordReader, node_count: int, data_size: int) -> None:
        self.read = reader
        self.node_count = node_count
        self.data_size = data_size
        # A tree visits each node once; allow one more pass for IPv4 subtrees reused at alias
        # positions we do not recognise. More than that means a cycle or a malicious DAG.
        self.budget = 2 * node_count + 1
        self.visited = 0

    def data_offsets(self, records: I64) -> I64:
        offsets = records - (self.node_count + 16)
        bad = (offsets < 0) | (offsets >= self.data_size)
        if bad.any():
            first = int(records[np.argmax(bad)])
            raise CorruptTreeError(
                f"record value {first} points outside the data section "
                f"(node count {self.node_count}, data section {self.data_size} bytes)"
            )
        return offsets

    def walk(
        self,
        root: int,
        bits: int,
        alias_node: int | None = None,
        aliases: set[str] | None = None,
    ) -> Leaves:
        """Leaves below ``root`` over a ``bits``-bit address space, sorted by start."""
        n = self.node_count
        nodes = np.array([root], dtype=np.int64)
        hi = np.zeros(1, dtype=np.uint64)
        lo = np.zeros(1, dtype=np.uint64)
        out_hi: list[U64] = []
        out_lo: list[U64] = []
        out_p: list[U8] = []
        out_off: list[I64] = []
        for depth in range(bits):
            if not len(nodes):
                break
            self.visited += len(nodes)
            if self.visited > self.budget:
                raise CorruptTreeError(
                    f"search tree visits more than {self.budget} nodes for {n} nodes "
                    "(pointer cycle or shared subtrees)"
                )
            left, right = self.read(nodes)
            bitpos = bits - 1 - depth
            right_hi, right_lo = hi, lo
            if bitpos >= 64:
                right_hi = hi | np.uint64(1 << (bitpos - 64))
            else:
                right_lo = lo | np.uint64(1 << bitpos)
            # Children in address order: for each node its left then its right record.
            rec = np.column_stack((left, right)).ravel()
            c_hi = np.column_stack((hi, right_hi)).ravel()
            c_lo = np.column_stack((lo, right_lo)).ravel()
            leaf = rec > n
            if leaf.any():
                out_hi.append(c_hi[leaf])
                out_lo.append(c_lo[leaf])
                out_p.append(np.full(int(leaf.sum()), depth + 1, dtype=np.uint8))
                out_off.append(self.data_offsets(rec[leaf]))
            inner = rec < n
            if alias_node is not None and aliases is not None and depth + 1 in (16, 96):
                inner &= ~self._take_aliases(rec, c_hi, c_lo, depth + 1, alias_node, aliases)
            nodes, hi, lo = rec[inner], c_hi[inner], c_lo[inner]
        if len(nodes):
            raise CorruptTreeError(f"search tree deeper than {bits} bits (pointer cycle?)")
        return _sorted_leaves(out_hi, out_lo, out_p, out_off, bits)

    @staticmethod
    def _take_aliases(
        rec: I64, c_hi: U64, c_lo: U64, prefix: int, alias_node: int, aliases: set[str]
    ) -> npt.NDArray[np.bool_]:
        """Mask of records at known alias positions that point at the IPv4 subtree."""
        at_v4 = rec == alias_node
        skip = np.zeros(len(rec), dtype=bool)
        if not at_v4.any():
            return skip
        zero = np.uint64(0)
        regions: tuple[tuple[str, np.uint64, np.uint64], ...]
        if prefix == IPV4_SUBTREE_DEPTH:
            regions = (("::/96", zero, zero), ("::ffff:0:0/96", zero, _V4_MAPPED_LO))
        else:
            regions = (("2002::/16", _SIX_TO_FOUR_HI, zero),)
        for name, want_hi, want_lo in regions:
            m = at_v4 & (c_hi == want_hi) & (c_lo == want_lo)
            if m.any():
                aliases.add(name)
                skip |= m
        return skip


def _sorted_leaves(
    out_hi: list[U64], out_lo: list[U64], out_p: list[U8], out_off: list[I64], bits: int
) -> Leaves:
    if not out_off:
        return Leaves(
            np.zeros(0, np.uint64),
            np.zeros(0, np.uint64),
            np.zeros(0, np.uint8),
            np.zeros(0, np.int64),
        )
    hi = np.concatenate(out_hi)
    lo = np.concatenate(out_lo)
    # Starts are unique (leaves are disjoint) and each level's leaves are already in address
    # order, so the sort only merges a few dozen sorted runs.
    order = np.argsort(lo) if bits <= 64 else np.lexsort((lo, hi))
    return Leaves(
        hi[order], lo[order], np.concatenate(out_p)[order], np.concatenate(out_off)[order]
    )


def walk_tree(
    tree: U8, node_count: int, record_size: int, ip_version: int, data_size: int
) -> TreeLeaves:
    """Walk the whole tree: IPv4 leaves (from ::/96 in an IPv6 tree) and IPv6 leaves."""
    reader = _RecordReader(tree, node_count, record_size)
    walker = _Walker(reader, node_count, data_size)
    empty = _sorted_leaves([], [], [], [], 128)
    if ip_version == 4:
        return TreeLeaves(walker.walk(0, 32), empty, ())
    # libmaxminddb starts IPv4 lookups at the node reached by 96 zero bits from the root.
    node, depth = 0, 0
    while depth < IPV4_SUBTREE_DEPTH and node < node_count:
        node = int(reader(np.array([node], dtype=np.int64))[0][0])
        depth += 1
    aliases: set[str] = set()
    if node < node_count:
        v6 = walker.walk(0, 128, alias_node=node, aliases=aliases)
        v4 = walker.walk(node, 32)
    else:
        v6 = walker.walk(0, 128)
        if node > node_count:
            # ::/96 lies inside a shorter leaf: every IPv4 address gets its data, as prefix 0.
            off = walker.data_offsets(np.array([node], dtype=np.int64))
            v4 = Leaves(np.zeros(1, np.uint64), np.zeros(1, np.uint64), np.zeros(1, np.uint8), off)
        else:
            v4 = _sorted_leaves([], [], [], [], 32)
    order = ("::/96", "::ffff:0:0/96", "2002::/16")
    return TreeLeaves(v4, v6, tuple(a for a in order if a in aliases))
