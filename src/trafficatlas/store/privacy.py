"""Per-peer privacy, enforced on the store's write path.

A peer marked private in the metadata store still counts in totals (bytes, packets, flows per
peer, direction, interface...) but its rows are written with country, city, ASN and label blanked,
and its raw flow records are not kept at all. Enforcing it where rows are written (rather than in
queries) means no query, export or later bug can reveal where a private peer's traffic went.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS, AggregateRows
from trafficatlas.store.dialect import TABLES
from trafficatlas.store.txn import Transaction, scalar

GEO_COLUMNS: tuple[str, ...] = ("country", "label", "city", "asn")


def blank_private_rows(
    rows: AggregateRows, private_peers: frozenset[str]
) -> tuple[AggregateRows, int]:
    """Rows with the geography of private peers blanked (a copy), and how many were blanked."""
    if not private_peers or not len(rows):
        return rows, 0
    mask = np.isin(rows.peer, np.array(sorted(private_peers), dtype=object))
    count = int(mask.sum())
    if not count:
        return rows, 0
    changes: dict[str, Any] = {}
    for name in GEO_COLUMNS:
        col = getattr(rows, name).copy()
        col[mask] = 0 if name == "asn" else ""
        changes[name] = col
    return dataclasses.replace(rows, **changes), count


def scrub_peer_history(conn: Any, peer_id: str) -> dict[str, int]:
    """Blank the geography of a peer's stored rows in every tier and drop its flow records.

    Rows whose keys become equal are summed, so keys stay unique. Runs in one transaction;
    returns the rows affected per table.
    """
    blank = {"country": "''", "label": "''", "city": "''", "asn": "0::UINTEGER"}
    keys = ", ".join(f"{blank[k]} AS {k}" if k in blank else k for k in KEY_COLUMNS)
    sums = ", ".join(f"SUM({v})::UBIGINT" for v in VALUE_COLUMNS)
    group = ", ".join(k for k in KEY_COLUMNS if k not in GEO_COLUMNS)
    out: dict[str, int] = {}
    with Transaction(conn):
        for tier in ("1m", "1h", "1d"):
            table = TABLES[tier]
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE _scrub AS SELECT {keys}, {sums} FROM {table}"
                f" WHERE peer = ? GROUP BY {group}",
                [peer_id],
            )
            out[table] = int(scalar(conn, f"DELETE FROM {table} WHERE peer = ?", [peer_id]) or 0)
            conn.execute(f"INSERT INTO {table} SELECT * FROM _scrub")
            conn.execute("DROP TABLE _scrub")
        out["flows"] = int(scalar(conn, "DELETE FROM flows WHERE peer = ?", [peer_id]) or 0)
    return out
