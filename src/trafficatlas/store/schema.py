"""DuckDB schema of the store and its forward migrations.

Every migration runs in its own transaction together with the row recording it in
``schema_version``, so a crash mid-migration leaves the previous version intact. Files written by
a newer trafficatlas (higher version) are refused, never modified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS
from trafficatlas.errors import DatabaseError
from trafficatlas.store.dialect import TABLES
from trafficatlas.store.flows import ADDRESS_COLUMNS
from trafficatlas.store.txn import Transaction, scalar

COLUMN_TYPES: dict[str, str] = {
    "ts": "BIGINT",  # epoch seconds (bucket start; flow end for flow detail)
    "source": "VARCHAR",
    "exporter": "VARCHAR",
    "interface": "VARCHAR",
    "peer": "VARCHAR",
    "direction": "UTINYINT",
    "ip_version": "UTINYINT",
    "proto": "UTINYINT",
    "country": "VARCHAR",
    "label": "VARCHAR",
    "city": "VARCHAR",
    "asn": "UINTEGER",
    "local_addr": "VARCHAR",
    "local_port": "USMALLINT",
    "remote_addr": "VARCHAR",
    "remote_port": "USMALLINT",
    "bytes": "UBIGINT",
    "packets": "UBIGINT",
    "flows": "UBIGINT",
}

TRAFFIC_COLUMNS: tuple[str, ...] = KEY_COLUMNS + VALUE_COLUMNS
FLOW_TABLE_COLUMNS: tuple[str, ...] = KEY_COLUMNS + ADDRESS_COLUMNS + VALUE_COLUMNS

# Keys of the store_state table (BIGINT values).
STATE_KEYS: tuple[str, ...] = (
    "interval_s",
    "rolled_until_1h",
    "rolled_until_1d",
    "retained_from_1m",
    "retained_from_1h",
    "retained_from_1d",
    "retained_from_flows",
    "deleted_since_compaction",
)


def _table_ddl(table: str, columns: tuple[str, ...]) -> str:
    cols = ",\n  ".join(f"{c} {COLUMN_TYPES[c]} NOT NULL" for c in columns)
    # No primary key: an index over 12 columns would cost more than the table. Uniqueness of
    # keys per bucket is kept by the write path (merge) and the rollup (disjoint ranges).
    return f"CREATE TABLE {table} (\n  {cols}\n)"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "traffic tiers, dimension tables, store state, flush log",
        (
            _table_ddl(TABLES["1m"], TRAFFIC_COLUMNS),
            _table_ddl(TABLES["1h"], TRAFFIC_COLUMNS),
            _table_ddl(TABLES["1d"], TRAFFIC_COLUMNS),
            "CREATE TABLE asn_names (asn UINTEGER PRIMARY KEY, org VARCHAR NOT NULL)",
            "CREATE TABLE cities (country VARCHAR NOT NULL, city VARCHAR NOT NULL,"
            " lat DOUBLE NOT NULL, lon DOUBLE NOT NULL, PRIMARY KEY (country, city))",
            "CREATE TABLE store_state (key VARCHAR PRIMARY KEY, value BIGINT NOT NULL)",
            "CREATE TABLE flush_log (flush_id VARCHAR PRIMARY KEY, written_at BIGINT NOT NULL,"
            " rows BIGINT NOT NULL)",
        ),
    ),
    Migration(
        2,
        "flow detail table",
        (_table_ddl(TABLES["flows"], FLOW_TABLE_COLUMNS),),
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: Any) -> int:
    """Version recorded in the file: 0 for an empty database.

    Raises DatabaseError when the file holds tables but is not a trafficatlas store.
    """
    tables = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    if "schema_version" not in tables:
        if tables:
            raise DatabaseError(
                f"the DuckDB file holds other tables ({', '.join(sorted(tables)[:5])}) "
                "and is not a trafficatlas store; point store.path at another file"
            )
        return 0
    version = scalar(conn, "SELECT max(version) FROM schema_version")
    return int(version) if version is not None else 0


def migrate(conn: Any, target: int = LATEST_VERSION) -> list[int]:
    """Apply migrations up to ``target``; returns the versions applied."""
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise DatabaseError(
            f"the store file has schema version {current}, newer than this trafficatlas "
            f"supports ({LATEST_VERSION}); upgrade trafficatlas to open it"
        )
    applied: list[int] = []
    for mig in MIGRATIONS:
        if mig.version <= current or mig.version > target:
            continue
        try:
            with Transaction(conn):
                if mig.version == 1:
                    conn.execute(
                        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                        " description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
                    )
                for stmt in mig.statements:
                    conn.execute(stmt)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, now())",
                    [mig.version, mig.description],
                )
        except duckdb.Error as exc:
            raise DatabaseError(
                f"store migration {mig.version} ({mig.description}) failed: {exc}; "
                f"the file keeps schema version {applied[-1] if applied else current}"
            ) from None
        applied.append(mig.version)
    return applied
