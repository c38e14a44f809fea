"""ClickHouse schema: versions, foreign databases, features by server version, cluster layout."""

from __future__ import annotations

import re

import numpy as np
import pytest

from trafficatlas.errors import DatabaseError
from trafficatlas.query import Filters, top
from trafficatlas.store import StoreSettings
from trafficatlas.store.clickhouse.conn import DriverConnection
from trafficatlas.store.clickhouse.schema import SCHEMA_VERSION, Features, Layout, SchemaBuilder
from trafficatlas.store.clickhouse.store import ClickHouseStore

from support.clickhouse import CLUSTER, ClickHouseServer, StoreFactory, store_factory
from support.storedata import BASE, HOUR, random_rows

OLD, CURRENT = Features((18, 16)), Features((24, 8))


def _tables(store: ClickHouseStore) -> dict[str, str]:
    rows = store.fetch(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()", {}
    )
    return {str(n): str(e) for n, e in rows}


def test_a_newer_schema_is_refused_untouched(open_ch: StoreFactory) -> None:
    store = open_ch()
    store.fetch(
        "INSERT INTO schema_version (version, description, applied_at)"
        " SELECT 99, 'from the future', now()",
        {},
    )
    before = _tables(store)
    with pytest.raises(DatabaseError, match=r"schema version 99, newer than .* \(1\)"):
        open_ch(database=store.layout.database)
    assert _tables(store) == before


def test_a_foreign_database_is_refused(
    clickhouse_server: ClickHouseServer, open_server_store: StoreFactory
) -> None:
    store = open_server_store()
    database = store.layout.database
    store.close()
    clickhouse_server.execute(f"DROP DATABASE {database}")
    clickhouse_server.execute(f"CREATE DATABASE {database}")
    clickhouse_server.execute(f"CREATE TABLE {database}.customers (id UInt64) ENGINE = Log")
    with pytest.raises(DatabaseError, match="customers"):
        open_server_store(database=database)


def test_ddl_for_a_cluster_runs_on_every_node_and_reads_distributed_tables() -> None:
    stmts = SchemaBuilder(Layout("traffic", "edge"), OLD, StoreSettings()).statements()
    assert all(" ON CLUSTER edge " in s for s in stmts)
    assert (
        "CREATE TABLE IF NOT EXISTS traffic_1m ON CLUSTER edge AS traffic_1m_local"
        " ENGINE = Distributed(edge, traffic, traffic_1m_local, cityHash64(node, peer))" in stmts
    )
    mv = next(s for s in stmts if "traffic_1h_mv_local" in s)
    assert "TO traffic_1h_local" in mv and "FROM traffic_in_local" in mv
    assert "intDiv(ts, 3600) * 3600 AS ts" in mv
    local = next(s for s in stmts if s.startswith("CREATE TABLE IF NOT EXISTS traffic_1d_local"))
    assert "SummingMergeTree((bytes, packets, flows))" in local
    assert "PARTITION BY toYYYYMM(toDateTime(ts, 'UTC'))" in local
    assert "cities ON CLUSTER edge AS SELECT country, city, lat, lon FROM cities_data FINAL" in (
        " ".join(stmts)
    )


def test_features_follow_the_server_version() -> None:
    settings = StoreSettings(retention_1m="3d")  # type: ignore[arg-type]
    old = " ".join(SchemaBuilder(Layout("db"), OLD, settings).statements())
    assert "LowCardinality" not in old and "TTL" not in old and "ON CLUSTER" not in old
    new = SchemaBuilder(Layout("db"), CURRENT, settings).statements()
    m1 = next(s for s in new if s.startswith("CREATE TABLE IF NOT EXISTS traffic_1m "))
    assert "country LowCardinality(String)" in m1 and "bytes UInt64" in m1
    assert m1.endswith("TTL toDateTime(ts) + toIntervalSecond(345600)")  # 3 d + 1 d margin
    d1 = next(s for s in new if s.startswith("CREATE TABLE IF NOT EXISTS traffic_1d "))
    assert "TTL" not in d1  # kept forever by default
    assert not SchemaBuilder(Layout("db"), CURRENT, settings, ttl=False).ttl


def test_the_old_server_gets_plain_strings_and_no_ttl(open_server_store: StoreFactory) -> None:
    store = open_server_store()
    assert store.features.version == (18, 16)
    types = dict(
        store.fetch(
            "SELECT name, type FROM system.columns"
            " WHERE database = currentDatabase() AND table = 'traffic_1m'",
            {},
        )
    )
    assert types["country"] == "String" and types["bytes"] == "UInt64"
    assert not any("TTL" in e for e in _tables(store).values())


def test_the_current_engine_gets_low_cardinality_and_ttl_kept_in_step(
    request: pytest.FixtureRequest,
) -> None:
    open_chdb = store_factory(request, "chdb")
    store = open_chdb(StoreSettings(retention_1m="3d", retention_1d="400d"), ttl=True)  # type: ignore[arg-type]
    assert store.features.version >= (24, 1) and store.builder.ttl
    types = dict(
        store.fetch(
            "SELECT name, type FROM system.columns"
            " WHERE database = currentDatabase() AND table = 'traffic_1m'",
            {},
        )
    )
    assert types["country"] == "LowCardinality(String)"

    def ttl(table: str) -> int | None:
        m = re.search(r"toIntervalSecond\((\d+)\)", _tables(store)[table])
        return int(m.group(1)) if m else None

    assert ttl("traffic_1m") == 4 * 86_400 and ttl("traffic_1d") == 401 * 86_400
    assert ttl("flows") == 7 * 86_400 + HOUR
    store.write(random_rows(np.random.default_rng(1), BASE, 3, 2), flush_id="x")
    # Retention changed: the next start changes the TTLs (without rewriting parts).
    open_chdb(
        StoreSettings(retention_1m="5d"),  # type: ignore[arg-type]
        database=store.layout.database,
        ttl=True,
    )
    assert ttl("traffic_1m") == 6 * 86_400 and ttl("traffic_1d") is None


def test_distributed_tables_on_a_one_shard_cluster(
    clickhouse_server: ClickHouseServer, open_server_store: StoreFactory
) -> None:
    """The cluster layout end to end, except ON CLUSTER (whose DDL queue needs ZooKeeper)."""
    database = open_server_store().layout.database
    clickhouse_server.execute(f"DROP DATABASE {database}")
    clickhouse_server.execute(f"CREATE DATABASE {database}")
    settings = StoreSettings(clickhouse={"cluster": CLUSTER, "database": database})  # type: ignore[arg-type]
    builder = SchemaBuilder(Layout(database, CLUSTER), OLD, settings)
    conn = DriverConnection(
        settings.clickhouse.model_copy(update={"port": clickhouse_server.port}), database
    )
    try:
        for stmt in [*builder.version_table(), *builder.statements()]:
            conn.execute(stmt.replace(f" ON CLUSTER {CLUSTER}", ""))
        conn.execute(
            "INSERT INTO schema_version (version, description, applied_at)"
            " SELECT %(v)s, 'test', now()",
            {"v": SCHEMA_VERSION},
        )
    finally:
        conn.close()
    store = open_server_store(settings, database=database)
    rows = random_rows(np.random.default_rng(2), BASE, 10, 3)
    assert not store.write(rows, flush_id="d").duplicate
    assert store.write(rows, flush_id="d").duplicate  # the check reads through the shards
    assert (
        store.fetch("SELECT sum(bytes) FROM traffic_1h_local", {})[0][0] == rows.totals()["bytes"]
    )
    res = top(store, ["asn"], Filters(), None, BASE, BASE + HOUR)
    assert res.totals.bytes == rows.totals()["bytes"]
    assert {r.attrs["as_org"] for r in res.rows if r.key["asn"] == 3303} == {"Swisscom"}
