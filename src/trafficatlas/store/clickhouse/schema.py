"""ClickHouse schema: tables, materialized views, cluster layout, features and versions.

Writes go to ``traffic_in`` (engine Null: it keeps nothing); materialized views on it feed the
tiers ``traffic_1m``/``traffic_1h``/``traffic_1d`` (SummingMergeTree, sums merged in the
background, so every read sums again) and ``flush_log`` (the flush ids written, for retries).
Because the views fire on every insert, every tier is complete at all times: there is no rollup
job, only watermarks kept for the planner (see :mod:`.maintenance`). Tiers have daily partitions
(1d: monthly) and flow detail hourly ones, so retention drops whole partitions on any server
version; servers with TTL (20.1 up) also get a TTL one day beyond retention as a backstop.

With ``cluster`` set, every statement runs ``ON CLUSTER``; data lives in ``<name>_local`` tables
on each shard and the plain names are Distributed tables over them, so queries do not change.
Only features of 18.16 (Debian's package) are used unless the server is newer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS
from trafficatlas.store.flows import ADDRESS_COLUMNS
from trafficatlas.store.settings import DAY, HOUR, StoreSettings

SCHEMA_VERSION = 1
FLUSH_LOG_KEEP_S = 7 * DAY

# Text columns with few distinct values: LowCardinality where the server has it.
_LOW_CARDINALITY = ("node", "source", "exporter", "interface", "peer", "country", "label", "city")
_TYPES: dict[str, str] = {
    "ts": "Int64",
    "node": "String",
    "flush_id": "String",
    "source": "String",
    "exporter": "String",
    "interface": "String",
    "peer": "String",
    "direction": "UInt8",
    "ip_version": "UInt8",
    "proto": "UInt8",
    "country": "String",
    "label": "String",
    "city": "String",
    "asn": "UInt32",
    "local_addr": "String",
    "local_port": "UInt16",
    "remote_addr": "String",
    "remote_port": "UInt16",
    "bytes": "UInt64",
    "packets": "UInt64",
    "flows": "UInt64",
}

NON_TS_KEYS: tuple[str, ...] = KEY_COLUMNS[1:]
# Columns of the tiers; "node" (the writing collector) keeps its rows apart from other nodes'.
TIER_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, "node", *VALUE_COLUMNS)
INSERT_COLUMNS: tuple[str, ...] = ("flush_id", *TIER_COLUMNS)
FLOW_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *ADDRESS_COLUMNS, "node", *VALUE_COLUMNS)
# Bucket width each view applies (None: the finest tier keeps the interval buckets as written).
TIER_WIDTHS: dict[str, int | None] = {"1m": None, "1h": HOUR, "1d": DAY}

# Partition expression and unit of each data table (the unit tells maintenance the time span).
PARTITIONS: dict[str, tuple[str, str]] = {
    "traffic_1m": ("toYYYYMMDD(toDateTime(ts, 'UTC'))", "day"),
    "traffic_1h": ("toYYYYMMDD(toDateTime(ts, 'UTC'))", "day"),
    "traffic_1d": ("toYYYYMM(toDateTime(ts, 'UTC'))", "month"),
    "flows": ("intDiv(ts, 3600)", "hour"),
    "flush_log": ("toYYYYMMDD(toDateTime(last_ts, 'UTC'))", "day"),
}


_CREATED = re.compile(r"CREATE (?:MATERIALIZED )?(?:TABLE|VIEW) IF NOT EXISTS (\w+)")


@dataclass(frozen=True, slots=True)
class Features:
    """What the server supports, from its version."""

    version: tuple[int, int]

    @property
    def low_cardinality(self) -> bool:
        # Experimental (behind a setting) in 18.x; on by default in every 20.x release.
        return self.version >= (20, 1)

    @property
    def ttl(self) -> bool:
        return self.version >= (20, 1)


@dataclass(frozen=True, slots=True)
class Layout:
    """Table names and DDL for one server or a cluster."""

    database: str
    cluster: str | None = None

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {self.cluster}" if self.cluster else ""

    def local(self, name: str) -> str:
        """Where a table's rows live (``<name>_local`` on each shard of a cluster)."""
        return f"{name}_local" if self.cluster else name


def ttl_seconds(settings: StoreSettings) -> dict[str, int | None]:
    """TTL per data table: retention plus a margin, so it only acts when the job does not."""
    return {
        "traffic_1m": settings.retention_1m + DAY,
        "traffic_1h": settings.retention_1h + DAY,
        "traffic_1d": None if settings.retention_1d is None else settings.retention_1d + DAY,
        "flows": settings.flow_detail.retention + HOUR,
        "flush_log": FLUSH_LOG_KEEP_S + DAY,
    }


def ttl_clause(table: str, seconds: int | None) -> str:
    """The TTL expression text as the server prints it back in ``engine_full``."""
    if seconds is None:
        return ""
    column = "last_ts" if table == "flush_log" else "ts"
    return f"TTL toDateTime({column}) + toIntervalSecond({seconds})"


class SchemaBuilder:
    """DDL statements of the current schema version for a server and layout."""

    def __init__(
        self, layout: Layout, features: Features, settings: StoreSettings, *, ttl: bool = True
    ) -> None:
        self.layout = layout
        self.features = features
        self.ttl = ttl and features.ttl
        self.ttl_seconds = ttl_seconds(settings)

    def column_type(self, name: str) -> str:
        base = _TYPES[name]
        if name in _LOW_CARDINALITY and self.features.low_cardinality:
            return f"LowCardinality({base})"
        return base

    def _columns(self, names: tuple[str, ...]) -> str:
        return ", ".join(f"{n} {self.column_type(n)}" for n in names)

    def _table(self, name: str, columns: str, engine: str, tail: str, shard_key: str) -> list[str]:
        """CREATE TABLE (local) plus, in a cluster, the Distributed table over it."""
        lay = self.layout
        stmts = [
            f"CREATE TABLE IF NOT EXISTS {lay.local(name)}{lay.on_cluster} ({columns})"
            f" ENGINE = {engine}{tail}"
        ]
        if lay.cluster:
            stmts.append(
                f"CREATE TABLE IF NOT EXISTS {name}{lay.on_cluster} AS {lay.local(name)}"
                f" ENGINE = Distributed({lay.cluster}, {lay.database}, {lay.local(name)},"
                f" {shard_key})"
            )
        return stmts

    def _data_tail(self, table: str, order_by: str) -> str:
        expr, _ = PARTITIONS[table]
        tail = f" PARTITION BY {expr} ORDER BY ({order_by})"
        if self.ttl and (clause := ttl_clause(table, self.ttl_seconds[table])):
            tail += f" {clause}"
        return tail

    def statements(self) -> list[str]:
        """Every CREATE of the schema, in dependency order (all ``IF NOT EXISTS``)."""
        tier_key = ", ".join((*KEY_COLUMNS, "node"))
        sums = "SummingMergeTree((" + ", ".join(VALUE_COLUMNS) + "))"
        stmts: list[str] = []
        stmts += self._table(
            "traffic_in", self._columns(INSERT_COLUMNS), "Null", "", "cityHash64(node, flush_id)"
        )
        for tier in ("1m", "1h", "1d"):
            table = f"traffic_{tier}"
            stmts += self._table(
                table,
                self._columns(TIER_COLUMNS),
                sums,
                self._data_tail(table, tier_key),
                "cityHash64(node, peer)",
            )
        stmts += self._table(
            "flush_log",
            "node String, flush_id String, last_ts Int64, row_count UInt64",
            "MergeTree()",
            self._data_tail("flush_log", "node, flush_id"),
            "cityHash64(node, flush_id)",
        )
        stmts += self._table(
            "flows",
            self._columns(FLOW_COLUMNS),
            "MergeTree()",
            self._data_tail("flows", "ts, peer"),
            "rand()",
        )
        stmts += self._table(
            "asn_names_data",
            "asn UInt32, org String, version UInt64",
            "ReplacingMergeTree(version)",
            " ORDER BY asn",
            "asn",
        )
        stmts += self._table(
            "cities_data",
            "country String, city String, lat Float64, lon Float64, version UInt64",
            "ReplacingMergeTree(version)",
            " ORDER BY (country, city)",
            "cityHash64(country, city)",
        )
        stmts += self._table(
            "peers",
            "id String, name String, private UInt8, updated UInt64",
            "ReplacingMergeTree(updated)",
            " ORDER BY id",
            "cityHash64(id)",
        )
        # Watermarks only grow, so the largest value of a key is its current one.
        stmts += self._table(
            "store_state",
            "key String, value UInt64",
            "ReplacingMergeTree(value)",
            " ORDER BY key",
            "cityHash64(key)",
        )
        stmts += self._views()
        return stmts

    def _views(self) -> list[str]:
        lay = self.layout
        src = lay.local("traffic_in")
        keys = ", ".join(NON_TS_KEYS)
        sums = ", ".join(f"sum({v}) AS {v}" for v in VALUE_COLUMNS)
        stmts = []
        for tier, width in TIER_WIDTHS.items():
            ts = "ts" if width is None else f"intDiv(ts, {width}) * {width} AS ts"
            stmts.append(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {lay.local(f'traffic_{tier}_mv')}"
                f"{lay.on_cluster} TO {lay.local(f'traffic_{tier}')} AS SELECT {ts}, {keys},"
                f" node, {sums} FROM {src} GROUP BY ts, {keys}, node"
            )
        stmts.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {lay.local('flush_log_mv')}{lay.on_cluster}"
            f" TO {lay.local('flush_log')} AS SELECT node, flush_id, max(ts) AS last_ts,"
            f" count() AS row_count FROM {src} WHERE flush_id != '' GROUP BY node, flush_id"
        )
        # What the query layer reads: the newest name of each ASN and city.
        stmts.append(
            f"CREATE VIEW IF NOT EXISTS asn_names{lay.on_cluster} AS"
            " SELECT asn, org FROM asn_names_data FINAL"
        )
        stmts.append(
            f"CREATE VIEW IF NOT EXISTS cities{lay.on_cluster} AS"
            " SELECT country, city, lat, lon FROM cities_data FINAL"
        )
        return stmts

    def names(self) -> set[str]:
        """Tables and views the statements create (on this node)."""
        return {m.group(1) for m in map(_CREATED.match, self.statements()) if m}

    def version_table(self) -> list[str]:
        return self._table(
            "schema_version",
            "version UInt32, description String, applied_at DateTime",
            "MergeTree()",
            " ORDER BY version",
            "version",
        )
