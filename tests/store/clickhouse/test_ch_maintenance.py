"""ClickHouse maintenance: watermarks like DuckDB's, retention by dropping whole partitions."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from trafficatlas.query import Filters, drilldown, top, totals
from trafficatlas.store import FlowRecords, StoreSettings
from trafficatlas.store.clickhouse.store import ClickHouseStore
from trafficatlas.store.duckdb_store import DuckDBStore

from support.clickhouse import StoreFactory
from support.storedata import BASE, DAY, HOUR, random_rows, reference


def _partitions(store: ClickHouseStore, table: str) -> set[str]:
    rows = store.fetch(
        "SELECT DISTINCT partition_id FROM system.parts"
        " WHERE database = currentDatabase() AND table = %(t)s AND active",
        {"t": table},
    )
    return {str(r[0]) for r in rows}


def test_retention_drops_whole_partitions_and_spans_match_duckdb(
    open_ch: StoreFactory, tmp_path: Path
) -> None:
    settings = StoreSettings(retention_1m="1d")  # type: ignore[arg-type]
    store = open_ch(settings)
    rng = np.random.default_rng(11)
    parts = [random_rows(rng, BASE + d * DAY, 1440, 1) for d in range(3)]
    with DuckDBStore(settings, tmp_path / "d.duckdb") as duck:
        for i, part in enumerate(parts):
            store.write(part, flush_id=f"day-{i}")
            duck.write(part, flush_id=f"day-{i}")
        assert store.coverage() == duck.coverage()
        old_rows = store.fetch(
            "SELECT count() FROM traffic_1m WHERE ts < %(t)s", {"t": BASE + 2 * DAY}
        )
        now = BASE + 3 * DAY + 30 * 60
        report = store.run_maintenance(now=now)
        duck.run_maintenance(now=now)
        assert store.coverage() == duck.coverage() == report.coverage
        assert store.coverage().tiers[0].start == BASE + 2 * DAY
    assert report.deleted_rows["traffic_1m"] == old_rows[0][0] > 0
    assert report.deleted_rows["traffic_1h"] == report.deleted_rows["flush_log"] == 0
    assert _partitions(store, "traffic_1m") == {"20270117"}
    assert _partitions(store, "traffic_1h") == {"20270115", "20270116", "20270117"}
    assert _partitions(store, "traffic_1d") == {"202701"}
    # Exact over the whole range: hours and days where the minutes are gone.
    res = top(store, ["country"], Filters(), None, BASE + 5 * HOUR + 1, BASE + 3 * DAY - 1800)
    assert res.since == BASE + 5 * HOUR  # only hours are kept there
    want = reference(parts, res.since, res.until, ["country"])
    assert {tuple(r.key.values()): r.bytes for r in res.rows} == {k: v[0] for k, v in want.items()}
    assert {s.tier for s in res.segments} == {"1d", "1h", "1m"}
    # Idempotent, also from another node sharing the database.
    other = open_ch(settings, database=store.layout.database, node_id="other")
    again = other.run_maintenance(now=now)
    assert set(again.deleted_rows.values()) == {0}
    assert other.coverage() == store.coverage()


def test_flow_detail_is_dropped_by_the_hour(open_ch: StoreFactory) -> None:
    store = open_ch(StoreSettings(flow_detail={"enabled": True, "retention": "1h"}))  # type: ignore[arg-type]
    records = FlowRecords.build(
        3,
        ts=[BASE + 10, BASE + HOUR + 50, BASE + 2 * HOUR + 100],
        peer="alice",
        remote_addr="192.0.2.1",
        bytes=[1, 10, 100],
    )
    assert store.write_flows(records) == 3
    report = store.run_maintenance(now=BASE + 2 * HOUR + 100)  # keeps flows from BASE+1h+100 s
    assert report.deleted_rows["flows"] == 1
    assert len(_partitions(store, "flows")) == 2
    res = drilldown(store, ["remote_addr"], Filters(), None, BASE, BASE + 3 * HOUR)
    # The record at 1h+50 s still sits in its partition but lies before the retained span.
    assert res.since == BASE + HOUR + 100 and res.totals.bytes == 100
    assert store.write_flows(records) == 1  # records older than the span are not kept


def test_flush_ids_are_kept_for_a_week_of_data_time(open_ch: StoreFactory) -> None:
    store = open_ch()
    rows = random_rows(np.random.default_rng(3), BASE, 5, 2)
    store.write(rows, flush_id="old")
    assert store.write(rows, flush_id="old").duplicate
    report = store.run_maintenance(now=BASE + 9 * DAY)
    assert report.deleted_rows["flush_log"] == 1
    assert not store.write(rows, flush_id="old").duplicate  # too old to be recognized
    assert totals(store, Filters(), BASE, BASE + DAY).totals.bytes == 2 * rows.totals()["bytes"]


def test_spans_follow_the_clock_where_the_server_expires_rows_by_ttl(
    open_ch: StoreFactory,
) -> None:
    store = open_ch(ttl=True)
    if not store.builder.ttl:
        assert store.coverage().tiers[1].end == 0  # 18.16: no TTL, spans move with the job only
        return
    before = int(time.time())
    cov = store.coverage()
    after = int(time.time())
    ends = {(t - 120) - (t - 120) % HOUR for t in (before, after)}
    assert cov.tiers[1].end in ends  # rolled up to the last finished hour, without the job
    starts = {min((t - 7 * DAY) - (t - 7 * DAY) % HOUR, e) for t in (before, after) for e in ends}
    assert cov.tiers[0].start in starts
