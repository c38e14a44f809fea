"""The ClickHouse write path: a flush inserted once, even when it is retried.

Deduplication works on every server version, replicated or not (18.16's plain MergeTree has no
insert deduplication). A flush is inserted into ``traffic_in`` as one block that carries its
flush id in every row; the views on ``traffic_in`` write the rows into the tiers and one row
``(node, flush_id)`` into ``flush_log``, all from that same block. Before inserting, the writer
looks the id up in ``flush_log`` (primary-key lookup); if it is there, the flush was written
before and nothing is inserted. So a retry after a network error — whether the server received
the block or not — writes the flush exactly once.

A flush larger than :data:`CHUNK_ROWS` is split into chunks with ids ``<id>#<n>`` (cut by row
position before any filtering, so a retry cuts the same chunks); each chunk is one block and is
checked and inserted on its own.

Remaining edge cases, none caused by a network error:

- A *server-side* failure part-way through one block (disk full, a crash while the views run)
  can leave some views written and others not; the error is a DatabaseError, not
  StoreUnavailable, so it is never blindly retried.
- Two writers sending the same flush id at the same moment both pass the check; a collector
  sends each flush from one thread, so only a copied spool replayed twice at once could.
- Flush ids are kept 7 days of data time (``flush_log`` partitions); a retry of an older flush
  is written again.
- With a cluster, inserts use ``insert_distributed_sync = 1``; the check reads every shard.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store.clickhouse.conn import Connection
from trafficatlas.store.clickhouse.schema import FLOW_COLUMNS, INSERT_COLUMNS
from trafficatlas.store.duckdb_write import DimensionCache, floor_to
from trafficatlas.store.flows import FlowRecords, records_to_keep
from trafficatlas.store.privacy import blank_private_rows
from trafficatlas.store.protocol import WriteResult
from trafficatlas.store.state import StoreState

CHUNK_ROWS = 100_000


def chunks(flush_id: str | None, n: int) -> list[tuple[str, int, int]]:
    """(chunk id, start, end) covering ``n`` rows ("" ids when there is no flush id)."""
    spans = [(a, min(a + CHUNK_ROWS, n)) for a in range(0, n, CHUNK_ROWS)]
    if flush_id is None:
        return [("", a, b) for a, b in spans]
    if len(spans) == 1:
        return [(flush_id, *spans[0])]
    return [(f"{flush_id}#{i}", a, b) for i, (a, b) in enumerate(spans)]


def written_ids(conn: Connection, node: str, ids: list[str]) -> set[str]:
    """Which of the flush ids this node has already written."""
    wanted = [i for i in ids if i]
    if not wanted:
        return set()
    marks = ", ".join(f"%(f{i})s" for i in range(len(wanted)))
    params: dict[str, Any] = {f"f{i}": v for i, v in enumerate(wanted)}
    params["node"] = node
    rows = conn.execute(
        f"SELECT DISTINCT flush_id FROM flush_log WHERE node = %(node)s AND flush_id IN ({marks})",
        params,
    )
    return {str(r[0]) for r in rows}


def _column(values: npt.NDArray[Any]) -> list[Any]:
    return list(values.tolist())


def write_rows(
    conn: Connection,
    state: StoreState,
    rows: AggregateRows,
    *,
    node: str,
    flush_id: str | None,
    private_peers: frozenset[str],
    dims: DimensionCache,
    insert_settings: dict[str, Any],
) -> WriteResult:
    """Insert one flush (see the module docstring for how retries stay exact)."""
    result = WriteResult(rows_in=len(rows))
    parts = chunks(flush_id, len(rows))
    done = written_ids(conn, node, [cid for cid, _, _ in parts])
    if flush_id is not None and parts and all(cid in done for cid, _, _ in parts):
        return WriteResult(rows_in=result.rows_in, duplicate=True)
    rows, result.private_rows = blank_private_rows(rows, private_peers)
    ts = floor_to(rows.ts.astype(np.int64, copy=False), state.interval_s)
    # Every tier gets every row through the views; rows older than what any tier still keeps
    # would only land in partitions the next maintenance drops again.
    oldest = min(state.retained_from_1m, state.retained_from_1h, state.retained_from_1d)
    kept = ts >= oldest
    result.expired_rows = int((~kept).sum())
    written = 0
    for cid, a, b in parts:
        if cid in done:
            continue
        sel = np.flatnonzero(kept[a:b]) + a
        if not len(sel):
            continue
        data: list[list[Any]] = []
        for name in INSERT_COLUMNS:
            if name == "flush_id":
                data.append([cid] * len(sel))
            elif name == "node":
                data.append([node] * len(sel))
            elif name == "ts":
                data.append(_column(ts[sel]))
            else:
                data.append(_column(getattr(rows, name)[sel]))
        conn.insert("traffic_in", INSERT_COLUMNS, data, settings=insert_settings)
        written += len(sel)
    if written:
        result.rows_by_tier["1m"] = written
    write_dimensions(conn, rows, dims, insert_settings)
    return result


def write_dimensions(
    conn: Connection, rows: AggregateRows, dims: DimensionCache, insert_settings: dict[str, Any]
) -> None:
    """New or changed AS names and city coordinates (the newest version wins when read)."""
    version = time.time_ns()
    orgs = {a: o for a, o in rows.as_orgs.items() if dims.as_orgs.get(a) != o}
    if orgs:
        conn.insert(
            "asn_names_data",
            ("asn", "org", "version"),
            [list(orgs), list(orgs.values()), [version] * len(orgs)],
            settings=insert_settings,
        )
        dims.as_orgs.update(orgs)
    cities = {k: v for k, v in rows.cities.items() if dims.cities.get(k) != v}
    if cities:
        conn.insert(
            "cities_data",
            ("country", "city", "lat", "lon", "version"),
            [
                [c for c, _ in cities],
                [n for _, n in cities],
                [float(la) for la, _ in cities.values()],
                [float(lo) for _, lo in cities.values()],
                [version] * len(cities),
            ],
            settings=insert_settings,
        )
        dims.cities.update(cities)


def write_flow_records(
    conn: Connection,
    state: StoreState,
    records: FlowRecords,
    *,
    node: str,
    private_peers: frozenset[str],
    insert_settings: dict[str, Any],
) -> int:
    """Insert raw flow records (private peers' records are not kept at all)."""
    records = records_to_keep(records, state.retained_from_flows, private_peers)
    if not len(records):
        return 0
    data = [
        [node] * len(records) if name == "node" else _column(getattr(records, name))
        for name in FLOW_COLUMNS
    ]
    conn.insert("flows", FLOW_COLUMNS, data, settings=insert_settings)
    return len(records)
