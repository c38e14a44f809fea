"""Scrubbing a peer's stored geography on ClickHouse (when a peer is made private).

The blanked sums are inserted first, then the original rows are deleted by a mutation (ALTER
TABLE ... DELETE), which this waits for. ClickHouse has no transactions: between the two steps,
and for good if the server fails between them, the peer's traffic is counted twice; nothing is
ever lost. New rows of a private peer are blanked on write, so the scrub is needed once.
"""

from __future__ import annotations

import time
from typing import Any

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS
from trafficatlas.errors import DatabaseError
from trafficatlas.store.clickhouse.conn import Connection
from trafficatlas.store.clickhouse.schema import TIER_COLUMNS, Layout

MUTATION_WAIT_S = 120.0
_GEO = {"country": "''", "label": "''", "city": "''", "asn": "toUInt32(0)"}
_NOT_BLANK = "NOT (country = '' AND label = '' AND city = '' AND asn = 0)"


def _wait_for_mutations(conn: Connection, tables: list[str]) -> None:
    deadline = time.monotonic() + MUTATION_WAIT_S
    while True:
        rows = conn.execute(
            "SELECT count() FROM system.mutations WHERE database = currentDatabase()"
            " AND table IN %(t)s AND is_done = 0",
            {"t": tuple(tables)},
        )
        if not rows or not int(rows[0][0]):
            return
        if time.monotonic() > deadline:
            raise DatabaseError(
                f"the scrub's deletions in {', '.join(tables)} are still running after "
                f"{MUTATION_WAIT_S:.0f} s; they finish in the background"
            )
        time.sleep(0.05)


def scrub_peer_history(
    conn: Connection, layout: Layout, peer_id: str, insert_settings: dict[str, Any]
) -> dict[str, int]:
    """Blank the geography of a peer's rows in every tier and drop its flow records.

    Returns the rows affected per table (before ClickHouse merged equal keys).
    """
    out: dict[str, int] = {}
    touched: list[str] = []
    select = ", ".join(_GEO.get(c, c) for c in TIER_COLUMNS if c not in VALUE_COLUMNS)
    sums = ", ".join(f"sum({v})" for v in VALUE_COLUMNS)
    group = ", ".join(c for c in (*KEY_COLUMNS, "node") if c not in _GEO)
    where = f"peer = %(peer)s AND {_NOT_BLANK}"
    params = {"peer": peer_id}
    for table in ("traffic_1m", "traffic_1h", "traffic_1d"):
        count = int(conn.execute(f"SELECT count() FROM {table} WHERE {where}", params)[0][0])
        out[table] = count
        if not count:
            continue
        # Positional INSERT ... SELECT: aliases named like columns would shadow them in WHERE.
        conn.execute(
            f"INSERT INTO {table} ({', '.join(TIER_COLUMNS)}) SELECT {select}, {sums}"
            f" FROM {table} WHERE {where} GROUP BY {group}",
            params,
            settings=insert_settings,
        )
        conn.execute(
            f"ALTER TABLE {layout.local(table)}{layout.on_cluster} DELETE WHERE {where}", params
        )
        touched.append(layout.local(table))
    flows = int(conn.execute("SELECT count() FROM flows WHERE peer = %(peer)s", params)[0][0])
    out["flows"] = flows
    if flows:
        conn.execute(
            f"ALTER TABLE {layout.local('flows')}{layout.on_cluster} DELETE WHERE peer = %(peer)s",
            params,
        )
        touched.append(layout.local("flows"))
    if touched:
        _wait_for_mutations(conn, touched)
    return out
