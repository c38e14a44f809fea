"""The DuckDB write path: one flush merged into the tiers in one transaction.

Rows of a flush are grouped by key first, then either inserted (the usual case: the bucket is
new) or merged into existing rows (UPDATE sums, INSERT the rest), so a key never appears twice
in a tier. A flush id recorded in ``flush_log`` in the same transaction makes retries no-ops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS, AggregateRows
from trafficatlas.store.dialect import TABLES
from trafficatlas.store.flows import FlowRecords, records_to_keep
from trafficatlas.store.privacy import blank_private_rows
from trafficatlas.store.protocol import WriteResult
from trafficatlas.store.schema import FLOW_TABLE_COLUMNS, TRAFFIC_COLUMNS
from trafficatlas.store.state import DAY, HOUR, StoreState
from trafficatlas.store.txn import Transaction, scalar

_NON_TS_KEYS = ", ".join(KEY_COLUMNS[1:])
_SUMS = ", ".join(f"SUM({v})::UBIGINT AS {v}" for v in VALUE_COLUMNS)
_KEY_MATCH = " AND ".join(f"t.{k} = s.{k}" for k in KEY_COLUMNS)
_ADD = ", ".join(f"{v} = t.{v} + s.{v}" for v in VALUE_COLUMNS)


@dataclass(slots=True)
class DimensionCache:
    """Names and coordinates already in the file, so a flush only writes what changed."""

    as_orgs: dict[int, str] = field(default_factory=dict)
    cities: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)


def floor_to(ts: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.int64]:
    """Bucket starts of epoch seconds (floor, also for negative values)."""
    return ts - np.mod(ts, width)


def _merge_tier(
    conn: Any, tier: str, width: int, lo: int, hi: int | None, ts: npt.NDArray[np.int64]
) -> int:
    """Merge ``_incoming`` rows with lo <= ts < hi into a tier; returns rows merged."""
    sel = ts >= lo if hi is None else (ts >= lo) & (ts < hi)
    if not sel.any():
        return 0
    table = TABLES[tier]
    hi_bound = int(ts[sel].max()) + 1 if hi is None else hi
    staged = (
        f"SELECT ts - ts % {width} AS ts, {_NON_TS_KEYS}, {_SUMS} FROM _incoming"
        f" WHERE ts >= ? AND ts < ? GROUP BY ALL ORDER BY ts"
    )
    bmin = int(ts[sel].min()) // width * width
    bmax = (int(ts[sel].max()) // width) * width
    exists = scalar(conn, f"SELECT 1 FROM {table} WHERE ts >= ? AND ts <= ? LIMIT 1", [bmin, bmax])
    if exists is None:
        return int(scalar(conn, f"INSERT INTO {table} {staged}", [lo, hi_bound]) or 0)
    conn.execute(f"CREATE OR REPLACE TEMP TABLE _staged AS {staged}", [lo, hi_bound])
    conn.execute(
        f"UPDATE {table} AS t SET {_ADD} FROM _staged AS s"
        f" WHERE t.ts >= ? AND t.ts <= ? AND {_KEY_MATCH}",
        [bmin, bmax],
    )
    conn.execute(
        f"INSERT INTO {table} SELECT s.* FROM _staged AS s WHERE NOT EXISTS"
        f" (SELECT 1 FROM {table} AS t WHERE t.ts >= ? AND t.ts <= ? AND {_KEY_MATCH})",
        [bmin, bmax],
    )
    staged_rows = int(scalar(conn, "SELECT count(*) FROM _staged") or 0)
    conn.execute("DROP TABLE _staged")
    return staged_rows


def _write_dimensions(conn: Any, rows: AggregateRows, cache: DimensionCache) -> None:
    orgs = {a: o for a, o in rows.as_orgs.items() if cache.as_orgs.get(a) != o}
    if orgs:
        conn.executemany("INSERT OR REPLACE INTO asn_names VALUES (?, ?)", list(orgs.items()))
    cities = {k: v for k, v in rows.cities.items() if cache.cities.get(k) != v}
    if cities:
        conn.executemany(
            "INSERT OR REPLACE INTO cities VALUES (?, ?, ?, ?)",
            [(c, n, la, lo) for (c, n), (la, lo) in cities.items()],
        )


def write_rows(
    conn: Any,
    state: StoreState,
    rows: AggregateRows,
    *,
    flush_id: str | None,
    private_peers: frozenset[str],
    dims: DimensionCache,
    now: int,
) -> WriteResult:
    """Write one flush in one transaction (caller holds the write lock)."""
    result = WriteResult(rows_in=len(rows))
    rows, result.private_rows = blank_private_rows(rows, private_peers)
    ts = floor_to(rows.ts.astype(np.int64, copy=False), state.interval_s)
    cols: dict[str, Any] = {name: getattr(rows, name) for name in TRAFFIC_COLUMNS}
    cols["ts"] = ts
    tiers = (
        ("1m", state.interval_s, state.retained_from_1m, None),
        ("1h", HOUR, state.retained_from_1h, state.rolled_until_1h),
        ("1d", DAY, state.retained_from_1d, state.rolled_until_1d),
    )
    kept = np.zeros(len(ts), dtype=bool)
    for _, _, lo, hi in tiers:
        kept |= (ts >= lo) if hi is None else (ts >= lo) & (ts < hi)
    result.expired_rows = int((~kept).sum())
    # Registered views are not transactional: register before BEGIN, drop after the end, so a
    # failed statement (aborted transaction) cannot hide its own error behind the cleanup's.
    conn.register("_incoming", cols)
    try:
        with Transaction(conn) as tx:
            if flush_id is not None:
                # Stamped with the data's time, as maintenance prunes it against data time.
                stamp = int(ts.max()) if len(ts) else now
                fresh = conn.execute(
                    "INSERT INTO flush_log VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1",
                    [flush_id, stamp, len(rows)],
                ).fetchall()
                if not fresh:
                    tx.abort()
                    return WriteResult(rows_in=result.rows_in, duplicate=True)
            if len(ts):
                for tier, width, lo, hi in tiers:
                    n = _merge_tier(conn, tier, width, lo, hi, ts)
                    if n:
                        result.rows_by_tier[tier] = n
            _write_dimensions(conn, rows, dims)
    finally:
        conn.unregister("_incoming")
    dims.as_orgs.update(rows.as_orgs)
    dims.cities.update(rows.cities)
    return result


def write_flow_records(
    conn: Any, state: StoreState, records: FlowRecords, private_peers: frozenset[str]
) -> int:
    """Insert raw flow records (private peers' records are not kept at all)."""
    records = records_to_keep(records, state.retained_from_flows, private_peers)
    if not len(records):
        return 0
    conn.register("_flows", records.as_columns())
    try:
        with Transaction(conn):
            conn.execute(f"INSERT INTO flows SELECT {', '.join(FLOW_TABLE_COLUMNS)} FROM _flows")
    finally:
        conn.unregister("_flows")
    return len(records)
