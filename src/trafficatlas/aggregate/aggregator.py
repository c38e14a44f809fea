"""Per-interval buckets: flow-level columns → AggregateRows, accumulated until a bucket closes."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from trafficatlas.aggregate.groupby import group_sum
from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS, AggregateRows
from trafficatlas.section import Section


class AggregatorSettings(Section):
    # Bucket width in seconds (1 to 3600); 60 gives per-minute history.
    interval_s: int = Field(default=60, ge=1, le=3600)
    # A bucket is written once its end is this many seconds in the past, so flows that arrive
    # a little late (exporter batching, active timeouts) still land in it.
    grace_s: float = Field(default=10.0, ge=0, le=3600)


def bucket_ts(ts: npt.NDArray[np.float64], interval_s: int) -> npt.NDArray[np.int64]:
    """Bucket start (epoch seconds) for each timestamp."""
    t = np.floor(np.asarray(ts, dtype=np.float64)).astype(np.int64)
    return t - (t % interval_s)


def rows_from_columns(interval_s: int, **columns: Any) -> AggregateRows:
    """Group flow-level columns into AggregateRows.

    ``columns`` holds ``ts`` (float epoch seconds), any key column of AggregateRows (arrays or
    scalars), the value columns, and optionally ``as_orgs``/``cities`` side tables.
    """
    dims = {k: columns.pop(k) for k in ("as_orgs", "cities") if k in columns}
    ts = np.asarray(columns.pop("ts"), dtype=np.float64)
    n = len(ts)
    keys: dict[str, npt.NDArray[Any]] = {"ts": bucket_ts(ts, interval_s)}
    scalars: dict[str, Any] = {}
    for name in KEY_COLUMNS[1:]:
        if name not in columns:
            continue
        value = columns.pop(name)
        arr = np.asarray(value, dtype=AggregateRows.DTYPES[name])
        if arr.ndim == 0:
            scalars[name] = arr.item()  # constant over the batch: not part of the grouping
        else:
            keys[name] = arr
    vals: dict[str, npt.NDArray[Any]] = {}
    for name in VALUE_COLUMNS:
        v = columns.pop(name, 1 if name == "flows" else 0)
        arr = np.asarray(v, dtype=np.uint64)
        vals[name] = np.full(n, arr.item(), dtype=np.uint64) if arr.ndim == 0 else arr
    if columns:
        raise TypeError(f"unknown columns: {sorted(columns)}")
    gkeys, gvals = group_sum(keys, vals)
    m = len(gkeys["ts"])
    return AggregateRows.build(m, **gkeys, **gvals, **scalars, **dims)


class Aggregator:
    """Accumulates AggregateRows per bucket and releases closed buckets (thread-safe)."""

    def __init__(self, settings: AggregatorSettings | None = None) -> None:
        self.settings = settings or AggregatorSettings()
        self._parts: list[AggregateRows] = []
        self._lock = threading.Lock()
        self.late_rows = 0  # rows for buckets already released (written as their own update)
        self._released_until = -1

    @property
    def interval_s(self) -> int:
        return self.settings.interval_s

    def add(self, rows: AggregateRows) -> None:
        """Add rows (already bucketed by :func:`rows_from_columns`)."""
        if not len(rows):
            return
        with self._lock:
            if self._released_until >= 0:
                self.late_rows += int((rows.ts < self._released_until).sum())
            self._parts.append(rows)

    def pending(self) -> int:
        with self._lock:
            return sum(len(p) for p in self._parts)

    def flush(self, now: float, force: bool = False) -> AggregateRows:
        """Rows of every bucket that has closed by ``now`` (all buckets with ``force``)."""
        with self._lock:
            parts = self._parts
            self._parts = []
        if not parts:
            return AggregateRows.build(0)
        merged = merge(AggregateRows.concat(parts))
        if force:
            cutoff = np.iinfo(np.int64).max
        else:
            cutoff = int(now - self.settings.grace_s) - self.interval_s + 1
        done = merged.ts < cutoff
        keep = _take(merged, ~done)
        out = _take(merged, done)
        with self._lock:
            if len(keep):
                self._parts.insert(0, keep)
            if len(out):
                self._released_until = max(
                    self._released_until, int(out.ts.max()) + self.interval_s
                )
        return out


def merge(rows: AggregateRows) -> AggregateRows:
    """Sum rows that share a key (used when combining partial batches of one bucket)."""
    if not len(rows):
        return rows
    keys = {name: getattr(rows, name) for name in KEY_COLUMNS}
    vals = {name: getattr(rows, name) for name in VALUE_COLUMNS}
    gkeys, gvals = group_sum(keys, vals)
    return AggregateRows.build(
        len(gkeys["ts"]), **gkeys, **gvals, as_orgs=rows.as_orgs, cities=rows.cities
    )


def _take(rows: AggregateRows, mask: npt.NDArray[np.bool_]) -> AggregateRows:
    cols = {name: getattr(rows, name)[mask] for name in AggregateRows.DTYPES}
    return AggregateRows(**cols, as_orgs=rows.as_orgs, cities=rows.cities)
