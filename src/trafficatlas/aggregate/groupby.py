"""Vectorized group-by-and-sum over NumPy columns, exact for uint64 counters."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def factorize(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Integer codes and the distinct values (codes index into them)."""
    if values.dtype == object:
        # None sorts badly among str: map it to "" (the "unknown" convention of AggregateRows)
        missing = values == None  # noqa: E711 - elementwise test on an object array
        if missing.any():
            values = np.where(missing, "", values)
        uniq, codes = np.unique(values.astype(str), return_inverse=True)
        return codes.astype(np.int64).ravel(), uniq.astype(object)
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64).ravel(), uniq


def group_sum(
    keys: dict[str, npt.NDArray[Any]], values: dict[str, npt.NDArray[Any]]
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, npt.NDArray[Any]]]:
    """Distinct key combinations and the per-group sums of ``values`` (same dtype, exact)."""
    n = len(next(iter(keys.values()))) if keys else len(next(iter(values.values())))
    if n == 0:
        return (
            {k: v[:0] for k, v in keys.items()},
            {k: v[:0] for k, v in values.items()},
        )
    codes: list[npt.NDArray[np.int64]] = []
    uniques: list[npt.NDArray[Any]] = []
    for col in keys.values():
        c, u = factorize(np.asarray(col))
        codes.append(c)
        uniques.append(u)
    # combine the codes into one int64 key (mixed radix) while it fits, else lexsort the codes
    combined = np.zeros(n, dtype=np.int64)
    radix_ok = True
    span = 1
    for c, u in zip(codes, uniques, strict=True):
        span *= max(len(u), 1)
        if span >= 1 << 62:
            radix_ok = False
            break
        combined = combined * max(len(u), 1) + c
    if radix_ok:
        order = np.argsort(combined, kind="stable")
        sorted_key = combined[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    else:
        order = np.lexsort(codes[::-1])
        stacked = np.stack([c[order] for c in codes])
        change = np.any(stacked[:, 1:] != stacked[:, :-1], axis=0)
        starts = np.flatnonzero(np.r_[True, change])
    first = order[starts]
    out_keys = {
        name: uniq[c[first]]
        for (name, _), c, uniq in zip(keys.items(), codes, uniques, strict=True)
    }
    out_vals = {
        name: np.add.reduceat(np.asarray(col)[order], starts).astype(col.dtype, copy=False)
        for name, col in values.items()
    }
    return out_keys, out_vals
