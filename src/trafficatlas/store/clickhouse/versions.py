"""Schema versioning on ClickHouse: create or upgrade, refuse newer, keep TTLs in step.

ClickHouse has no transactions; every statement is ``IF NOT EXISTS``, so a migration interrupted
half-way is finished by the next start (of any node), and the version row is written last.
"""

from __future__ import annotations

import re

from trafficatlas.errors import DatabaseError
from trafficatlas.logging import get_logger
from trafficatlas.store.clickhouse.conn import Connection
from trafficatlas.store.clickhouse.schema import SCHEMA_VERSION, SchemaBuilder, ttl_clause

log = get_logger(__name__)

DESCRIPTIONS: dict[int, str] = {
    1: "traffic tiers fed by views, flush log, flow detail, dimensions, peers, state",
}
_TTL = re.compile(r"\bTTL\s+toDateTime\(\w+\)\s*\+\s*toIntervalSecond\((\d+)\)")


def existing_tables(conn: Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return {str(r[0]) for r in rows}


def schema_version(conn: Connection) -> int:
    """Version recorded in the database: 0 when empty; DatabaseError for a foreign database."""
    tables = existing_tables(conn)
    if "schema_version" not in tables:
        if tables:
            raise DatabaseError(
                f"the ClickHouse database holds other tables ({', '.join(sorted(tables)[:5])}) "
                "and is not a trafficatlas store; set store.clickhouse.database to another one"
            )
        return 0
    rows = conn.execute("SELECT max(version) FROM schema_version")
    return int(rows[0][0] or 0) if rows else 0


def migrate(conn: Connection, builder: SchemaBuilder) -> list[int]:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the versions applied."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"the ClickHouse database has schema version {current}, newer than this "
            f"trafficatlas supports ({SCHEMA_VERSION}); upgrade trafficatlas on this node"
        )
    if current == SCHEMA_VERSION:
        # A node of the same version may have been stopped part-way: finish what is missing.
        if not builder.names() <= existing_tables(conn):
            for stmt in builder.statements():
                conn.execute(stmt)
        return []
    for stmt in builder.version_table():
        conn.execute(stmt)
    applied = []
    for version in range(current + 1, SCHEMA_VERSION + 1):
        for stmt in builder.statements():
            conn.execute(stmt)
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at)"
            " SELECT %(v)s, %(d)s, now()",
            {"v": version, "d": DESCRIPTIONS[version]},
        )
        applied.append(version)
    log.info("clickhouse.migrated", versions=applied)
    return applied


def sync_ttl(conn: Connection, builder: SchemaBuilder) -> list[str]:
    """Change table TTLs that differ from the settings (retention changed); returns the tables.

    Existing parts are not rewritten (``materialize_ttl_after_modify = 0``): the partition job
    removes old data, the new TTL applies as parts merge.
    """
    if not builder.ttl:
        return []
    lay = builder.layout
    rows = conn.execute(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"
    )
    engines = {str(n): str(e) for n, e in rows}
    changed = []
    for table, seconds in builder.ttl_seconds.items():
        local = lay.local(table)
        m = _TTL.search(engines.get(local, ""))
        have = int(m.group(1)) if m else None
        if have == seconds or local not in engines:
            continue
        if seconds is None:
            conn.execute(f"ALTER TABLE {local}{lay.on_cluster} REMOVE TTL")
        else:
            conn.execute(
                f"ALTER TABLE {local}{lay.on_cluster} MODIFY {ttl_clause(table, seconds)}"
                " SETTINGS materialize_ttl_after_modify = 0"
            )
        changed.append(table)
    if changed:
        log.info("clickhouse.ttl_changed", tables=changed)
    return changed
