"""Vectorized group-by-and-sum over NumPy columns, exact for uint64 counters."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def factorize(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Integer codes and the distinct values (codes index into them)."""
    if values.dtype == object:
        fast = _factorize_text(values)
        if fast is not None:
            return fast
        # None sorts badly among str: map it to "" (the "unknown" convention of AggregateRows)
        missing = values == None  # noqa: E711 - elementwise test on an object array
        if missing.any():
            values = np.where(missing, "", values)
        uniq, codes = np.unique(values.astype(str), return_inverse=True)
        return codes.astype(np.int64).ravel(), uniq.astype(object)
    if values.dtype.kind in "iub" and len(values):
        # small value spans need no sort: the offset from the minimum is a dense enough code
        lo = int(values.min())
        span = int(values.max()) - lo + 1
        if span <= max(1 << 16, 4 * len(values)):
            codes = values.astype(np.int64) - lo
            return codes, np.arange(lo, lo + span).astype(values.dtype)
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.astype(np.int64).ravel(), uniq


def _factorize_text(
    values: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]] | None:
    """Object columns of str/None: the same result as sorting the text, found by hashing.

    Text columns of aggregate rows hold few distinct values (countries, exporters, labels), so
    one dict lookup per row beats converting every row to a fixed-width string and sorting
    (about 6x on 300k rows). None for other contents (the caller sorts them as text).
    """
    first = values[0] if len(values) else None
    if type(first) is str and _constant(values, first):
        # one value, the usual case of the source, exporter, peer and city columns: an
        # identity-first comparison costs a fraction of hashing every row
        return np.zeros(len(values), dtype=np.int64), np.array([first], dtype=object)
    objs = values.tolist()
    try:
        distinct = list(dict.fromkeys(objs))
    except TypeError:  # unhashable objects
        return None
    if not all(v is None or type(v) is str for v in distinct):
        return None
    index = {v: i for i, v in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, objs), dtype=np.int64, count=len(objs))
    text = np.array(["" if v is None else v for v in distinct], dtype=str)
    uniq, remap = np.unique(text, return_inverse=True)  # sorted order, None merged with ""
    return remap.astype(np.int64).ravel()[codes], uniq.astype(object)


def _constant(values: npt.NDArray[Any], first: str) -> bool:
    try:
        return bool((values[:64] == first).all()) and bool((values == first).all())
    except (TypeError, ValueError):  # elements that do not compare to a str
        return False


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
    # combine the codes into one int64 key (mixed radix); when the next column would overflow
    # it, re-densify the key so far (its distinct values number at most n) and go on
    combined = np.zeros(n, dtype=np.int64)
    span = 1
    for c, u in zip(codes, uniques, strict=True):
        card = max(len(u), 1)
        if span * card >= 1 << 62:
            uniq_key, inv = np.unique(combined, return_inverse=True)
            combined = inv.astype(np.int64).ravel()
            span = len(uniq_key)
        combined = combined * card + c
        span *= card
    order = np.argsort(combined)
    sorted_key = combined[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
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
