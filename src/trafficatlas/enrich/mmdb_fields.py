"""Vectorized reads of named fields from many values of an mmdb data section at once.

Instead of decoding every record into Python objects, the reader follows key paths such as
``("location", "latitude")`` through all records together: one NumPy pass per map entry finds the
wanted keys, shared sub-maps are visited once (positions are deduplicated at every step), and
numbers are decoded straight into arrays. Strings are decoded once per distinct position with the
scalar :class:`~trafficatlas.enrich.mmdb_data.DataSection`.

Positions are byte offsets into the data section. ``MISSING`` marks a field that is absent; ``BAD``
marks a value this reader cannot follow (unexpected encoding or corrupt bytes): callers decode
those records with the scalar decoder, which handles every valid encoding and reports corruption.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.mmdb_data import DataSection

I64 = npt.NDArray[np.int64]
Path = tuple[str | int, ...]

MISSING = -1
BAD = -2
# Caps on one vectorized walk; a map or skip needing more steps is left to the scalar decoder.
_MAX_ENTRIES = 1024
_MAX_SKIP_STEPS = 4096
_PAD = 16  # zero bytes after the data so fixed-width gathers past a field stay in bounds

_MAP, _ARRAY, _BOOLEAN = 7, 11, 14
_VALUE_KINDS = np.array([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15])  # every type but 1, 12, 13


class FieldReader:
    """Follows key paths through many data-section values at once."""

    def __init__(self, section: DataSection) -> None:
        self.section = section
        self.size = section.size
        self.d = np.frombuffer(section.buf + bytes(_PAD), dtype=np.uint8)
        # Key strings seen so far: sorted positions and the id of each name at that position.
        self._key_pos = np.zeros(0, dtype=np.int64)
        self._key_id = np.zeros(0, dtype=np.int64)
        self._names: dict[str, int] = {}

    # -- public -------------------------------------------------------------------------------

    def resolve(self, starts: I64, paths: Sequence[Path]) -> dict[Path, I64]:
        """Position of the value at the end of each path, for each start (or MISSING / BAD)."""
        return self._walk(np.asarray(starts, dtype=np.int64), list(paths))

    def deref(self, pos: I64) -> I64:
        """Positions with pointers followed (a chain of at most two, as real files never nest)."""
        out = pos.copy()
        for _ in range(2):
            idx = np.flatnonzero(out >= 0)
            c = self.d[out[idx]]
            ptr = (c >> 5) == 1
            if not ptr.any():
                return out
            idx = idx[ptr]
            target = self._pointer_target(out[idx], c[ptr].astype(np.int64))
            out[idx] = np.where(target < self.size, target, BAD)
        idx = np.flatnonzero(out >= 0)
        out[idx[(self.d[out[idx]] >> 5) == 1]] = BAD
        return out

    def floats(self, pos: I64) -> tuple[npt.NDArray[np.float64], I64]:
        """Float/double values at ``pos`` (NaN elsewhere) and the positions left to the caller."""
        d_pos = self.deref(pos)
        out = np.full(len(pos), np.nan)
        idx = np.flatnonzero(d_pos >= 0)
        kind, size, payload = self._header(d_pos[idx])
        for code, width, dtype in ((15, 4, ">f4"), (3, 8, ">f8")):
            m = (kind == code) & (size == width) & (payload + width <= self.size)
            if m.any():
                raw = self.d[payload[m][:, None] + np.arange(width)]
                out[idx[m]] = raw.view(dtype)[:, 0]
                d_pos[idx[m]] = MISSING  # done
        return out, d_pos

    def uints(self, pos: I64) -> tuple[npt.NDArray[np.uint64], I64]:
        """Unsigned integers (up to 8 bytes) at ``pos`` (0 elsewhere) and positions left over."""
        d_pos = self.deref(pos)
        out = np.zeros(len(pos), dtype=np.uint64)
        idx = np.flatnonzero(d_pos >= 0)
        kind, size, payload = self._header(d_pos[idx])
        m = np.isin(kind, (5, 6, 9, 10)) & (size <= 8) & (payload + size <= self.size)
        if m.any():
            acc = np.zeros(int(m.sum()), dtype=np.uint64)
            p, s = payload[m], size[m]
            for j in range(8):
                take = s > j
                acc = np.where(take, (acc << np.uint64(8)) | self.d[p + j].astype(np.uint64), acc)
            out[idx[m]] = acc
            d_pos[idx[m]] = MISSING
        return out, d_pos

    def values(self, pos: I64) -> tuple[list[Any], I64]:
        """Python values at ``pos``, decoded once per distinct position.

        Returns the distinct values (None for MISSING/BAD positions) and, per position, the index
        of its value in that list.
        """
        uniq, inverse = np.unique(self.deref(pos), return_inverse=True)
        ok = uniq >= 0
        decoded: list[Any] = [None] * len(uniq)
        for i, value in zip(
            np.flatnonzero(ok).tolist(), self.section.values_at(uniq[ok].tolist()), strict=True
        ):
            decoded[i] = value
        return decoded, inverse.ravel()

    # -- walking paths --------------------------------------------------------------------------

    def _walk(self, pos: I64, paths: list[Path]) -> dict[Path, I64]:
        uniq, inverse = np.unique(self.deref(pos), return_inverse=True)
        inverse = inverse.ravel()
        heads: dict[str | int, list[Path]] = {}
        for path in paths:
            heads.setdefault(path[0], []).append(path[1:])
        keys = [h for h in heads if isinstance(h, str)]
        found = dict(zip(keys, self._lookup(uniq, keys), strict=True)) if keys else {}
        out: dict[Path, I64] = {}
        for head, tails in heads.items():
            at = found[head] if isinstance(head, str) else self._item(uniq, head)
            if () in tails:
                out[(head,)] = at[inverse]
            deeper = [t for t in tails if t]
            if deeper:
                for tail, sub in self._walk(at, deeper).items():
                    out[(head, *tail)] = sub[inverse]
        return out

    def _lookup(self, maps: I64, keys: list[str]) -> list[I64]:
        """Value positions of ``keys`` in the maps at (dereferenced) positions ``maps``."""
        n = len(maps)
        results = [np.where(maps < 0, maps, MISSING) for _ in keys]
        rows = np.flatnonzero(maps >= 0)
        kind, count, pos = self._header(maps[rows])
        bad = _invalid_kind(kind)
        for r in results:
            r[rows[bad]] = BAD
        keep = kind == _MAP
        rows, count, pos = rows[keep], count[keep], pos[keep]
        want = np.full(len(keys), -1, dtype=np.int64)
        hits = np.zeros(n, dtype=np.int64)
        active = np.flatnonzero(count > 0)
        for _ in range(_MAX_ENTRIES):
            if not len(active):
                break
            p = pos[active]
            key_pos = self.deref(p)
            value_pos = self._skip(p)
            ids = self._key_ids(key_pos)
            want[:] = [self._names.get(k, -1) for k in keys]
            r = rows[active]
            broken = (key_pos < 0) | (value_pos < 0) | (ids == BAD)
            for j, res in enumerate(results):
                m = (ids == want[j]) & ~broken & (res[r] == MISSING)
                res[r[m]] = value_pos[m]
                hits[r[m]] += 1
            nxt = np.where(broken, BAD, self._skip(np.where(broken, BAD, value_pos)))
            broken |= nxt < 0
            for res in results:
                res[r[broken]] = BAD
            pos[active] = nxt
            count[active] -= 1
            active = active[(count[active] > 0) & ~broken & (hits[r] < len(keys))]
        else:
            for res in results:
                res[rows[active]] = BAD
        return results

    def _item(self, arrays: I64, index: int) -> I64:
        """Position of element ``index`` of the arrays at (dereferenced) positions ``arrays``."""
        out = np.where(arrays < 0, arrays, MISSING)
        rows = np.flatnonzero(arrays >= 0)
        kind, count, pos = self._header(arrays[rows])
        out[rows[_invalid_kind(kind)]] = BAD
        m = (kind == _ARRAY) & (count > index)
        rows, pos = rows[m], pos[m]
        for _ in range(index):
            pos = self._skip(pos)
        out[rows] = pos
        return out

    def _key_ids(self, key_pos: I64) -> I64:
        """Id of the key string at each position (BAD when it is not a string)."""
        ok = key_pos >= 0
        ids = np.full(len(key_pos), BAD, dtype=np.int64)
        hit, where = self._known_keys(key_pos)
        new = np.unique(key_pos[ok & ~hit])
        if len(new):
            names = self.section.values_at(new.tolist())
            new_ids = np.array(
                [self._names.setdefault(k, len(self._names)) if type(k) is str else BAD
                 for k in names],
                dtype=np.int64,
            )  # fmt: skip
            all_pos = np.concatenate((self._key_pos, new))
            order = np.argsort(all_pos, kind="stable")
            self._key_pos = all_pos[order]
            self._key_id = np.concatenate((self._key_id, new_ids))[order]
            hit, where = self._known_keys(key_pos)
        ids[hit] = self._key_id[where[hit]]
        return ids

    def _known_keys(self, key_pos: I64) -> tuple[npt.NDArray[np.bool_], I64]:
        if not len(self._key_pos):
            return np.zeros(len(key_pos), dtype=bool), np.zeros(len(key_pos), dtype=np.int64)
        where = np.minimum(np.searchsorted(self._key_pos, key_pos), len(self._key_pos) - 1)
        return (self._key_pos[where] == key_pos) & (key_pos >= 0), where

    # -- byte-level helpers -----------------------------------------------------------------

    def _pointer_target(self, p: I64, c: I64) -> I64:
        d = self.d
        b1, b2, b3, b4 = (d[p + k].astype(np.int64) for k in (1, 2, 3, 4))
        v = c & 7
        return np.select(
            [((c >> 3) & 3) == k for k in range(3)],
            [
                (v << 8) | b1,
                ((v << 16) | (b1 << 8) | b2) + 2048,
                ((v << 24) | (b1 << 16) | (b2 << 8) | b3) + 526336,
            ],
            (b1 << 24) | (b2 << 16) | (b3 << 8) | b4,
        )

    def _header(self, p: I64) -> tuple[I64, I64, I64]:
        """(type, size, payload position) of the fields at ``p`` (not for pointers)."""
        d = self.d
        c = d[p].astype(np.int64)
        kind = c >> 5
        ext = kind == 0
        kind = np.where(ext, d[p + 1].astype(np.int64) + 7, kind)
        h = p + 1 + ext
        s = c & 31
        b1, b2, b3 = (d[h + k].astype(np.int64) for k in (0, 1, 2))
        size = np.select(
            [s < 29, s == 29, s == 30],
            [s, 29 + b1, 285 + ((b1 << 8) | b2)],
            65821 + ((b1 << 16) | (b2 << 8) | b3),
        )
        return kind, size, h + np.maximum(s - 28, 0)

    def _skip(self, start: I64) -> I64:
        """Position right after the value at each ``start`` (BAD when unreadable)."""
        pos = start.copy()
        remaining = (start >= 0).astype(np.int64)
        active = np.flatnonzero(remaining)
        for _ in range(_MAX_SKIP_STEPS):
            if not len(active):
                return pos
            p = pos[active]
            c = self.d[p]
            is_ptr = (c >> 5) == 1
            kind, size, payload = self._header(p)
            container = (kind == _MAP) | (kind == _ARRAY) | (kind == _BOOLEAN)
            nxt = np.where(is_ptr, p + 2 + ((c >> 3) & 3), payload + np.where(container, 0, size))
            grow = np.where(kind == _MAP, 2 * size, np.where(kind == _ARRAY, size, 0))
            rem = remaining[active] - 1 + np.where(is_ptr, 0, grow)
            bad = (
                (~is_ptr & _invalid_kind(kind))
                | (nxt > self.size)
                | ((nxt == self.size) & (rem > 0))
            )
            pos[active] = np.where(bad, BAD, nxt)
            remaining[active] = np.where(bad, 0, rem)
            active = active[(rem > 0) & ~bad]
        pos[active] = BAD
        return pos


def _invalid_kind(kind: I64) -> npt.NDArray[np.bool_]:
    """Types that cannot appear as a value: pointers are followed before, 12/13 are not data."""
    valid: npt.NDArray[np.bool_] = np.isin(kind, _VALUE_KINDS)
    return ~valid
