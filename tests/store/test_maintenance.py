"""Rollups (exact, idempotent), late rows, retention, compaction."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trafficatlas.aggregate.rows import KEY_COLUMNS, AggregateRows
from trafficatlas.store import FlowRecords
from trafficatlas.store.duckdb_store import DuckDBStore

from support.storedata import BASE, DAY, HOUR, open_store, random_rows

NON_TS = ", ".join(KEY_COLUMNS[1:])


def _grouped(store: DuckDBStore, table: str, width: int) -> set[tuple[object, ...]]:
    rows = store.fetch(
        f"SELECT ts - ts % {width} AS b, {NON_TS}, sum(bytes), sum(packets), sum(flows)"
        f" FROM {table} GROUP BY ALL",
        [],
    )
    return set(rows)


def _table(store: DuckDBStore, table: str) -> set[tuple[object, ...]]:
    return set(store.fetch(f"SELECT * FROM {table}", []))


def _no_duplicates(store: DuckDBStore) -> None:
    keys = ", ".join(KEY_COLUMNS)
    for table in ("traffic_1m", "traffic_1h", "traffic_1d"):
        row = store.fetch(f"SELECT count(*) - count(DISTINCT ({keys})) FROM {table}", [])
        assert row == [(0,)], table


def _write_chunks(store: DuckDBStore, rows: AggregateRows, chunks: int) -> None:
    for idx in np.array_split(np.arange(len(rows)), chunks):
        cols = {name: getattr(rows, name)[idx] for name in AggregateRows.DTYPES}
        store.write(AggregateRows(**cols, as_orgs=rows.as_orgs, cities=rows.cities))


def test_rollups_are_exact_and_idempotent(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = random_rows(rng, BASE + 22 * HOUR, 26 * 60, 4)  # crosses a UTC midnight
    with open_store(tmp_path / "s.duckdb") as store:
        _write_chunks(store, rows, 8)
        report = store.run_maintenance(now=BASE + 3 * DAY)
        assert report.rolled_rows["1h"] > 0 and report.rolled_rows["1d"] > 0
        cov = store.coverage()
        assert cov.tiers[1].end == BASE + 3 * DAY - HOUR  # the rollup delay keeps the last hour
        assert cov.tiers[2].end == BASE + 2 * DAY
        assert _grouped(store, "traffic_1m", HOUR) == _table(store, "traffic_1h")
        assert _grouped(store, "traffic_1h", DAY) == _table(store, "traffic_1d")
        before = {t: _table(store, t) for t in ("traffic_1h", "traffic_1d")}
        again = store.run_maintenance(now=BASE + 3 * DAY)
        assert again.rolled_rows == {"1h": 0, "1d": 0}
        assert {t: _table(store, t) for t in before} == before
        _no_duplicates(store)


def test_unfinished_hours_wait_and_roll_later(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    rows = random_rows(rng, BASE, 90, 3)
    with open_store(tmp_path / "s.duckdb") as store:
        store.write(rows)
        store.run_maintenance(now=BASE + 61 * 60)  # the first hour ended < rollup delay ago
        assert store.coverage().tiers[1].end == BASE
        store.run_maintenance(now=BASE + 63 * 60)
        assert store.coverage().tiers[1].end == BASE + HOUR
        hour1 = store.fetch("SELECT sum(bytes) FROM traffic_1h", [])[0][0]
        want = int(rows.bytes[rows.ts < BASE + HOUR].sum())
        assert hour1 == want


def test_late_rows_merge_into_rolled_up_tiers(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = random_rows(rng, BASE, 120, 3)
    with open_store(tmp_path / "s.duckdb") as store:
        store.write(rows)
        store.run_maintenance(now=BASE + DAY + HOUR)
        late = AggregateRows.build(
            2, ts=[BASE + 5 * 60, BASE + 70 * 60], peer="peer-a", country="CH", bytes=[7, 11]
        )
        late.source[:] = "wireguard"
        result = store.write(late)
        assert set(result.rows_by_tier) == {"1m", "1h", "1d"}
        assert _grouped(store, "traffic_1m", HOUR) == _table(store, "traffic_1h")
        assert _grouped(store, "traffic_1h", DAY) == _table(store, "traffic_1d")
        _no_duplicates(store)
        total = int(rows.bytes.sum()) + 18
        for table in ("traffic_1m", "traffic_1h", "traffic_1d"):
            assert store.fetch(f"SELECT sum(bytes) FROM {table}", [])[0][0] == total


def _spread_rows(rng: np.random.Generator, days: int) -> AggregateRows:
    """Two rows every 10 minutes over ``days`` days."""
    rows = random_rows(rng, BASE, days * 144, 2)
    rows.ts = BASE + np.repeat(np.arange(days * 144, dtype=np.int64) * 600, 2)
    return rows


def test_retention_deletes_exactly_the_expired_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    rows = _spread_rows(rng, 4)
    now = BASE + 4 * DAY
    settings = {"retention_1m": "2h", "retention_1h": "2d", "retention_1d": "3d"}
    with open_store(tmp_path / "s.duckdb", **settings) as store:
        _write_chunks(store, rows, 4)
        report = store.run_maintenance(now=now)
        cut_1m, cut_1h, cut_1d = now - 2 * HOUR, BASE + 2 * DAY, BASE + DAY
        got_1m = store.fetch("SELECT min(ts), sum(bytes) FROM traffic_1m", [])[0]
        assert got_1m == (cut_1m, int(rows.bytes[rows.ts >= cut_1m].sum()))
        got_1h = store.fetch("SELECT min(ts), sum(bytes) FROM traffic_1h", [])[0]
        # 1h holds the rolled-up hours from its cutoff to its watermark (now - 1 h)
        in_1h = (rows.ts >= cut_1h) & (rows.ts < now - HOUR)
        assert got_1h == (cut_1h, int(rows.bytes[in_1h].sum()))
        got_1d = store.fetch("SELECT min(ts), max(ts), sum(bytes) FROM traffic_1d", [])[0]
        in_1d = (rows.ts >= cut_1d) & (rows.ts < BASE + 3 * DAY)
        assert got_1d == (cut_1d, BASE + 2 * DAY, int(rows.bytes[in_1d].sum()))
        assert report.deleted_rows["traffic_1m"] > 0 and report.deleted_rows["traffic_1d"] > 0
        spans = {t.name: (t.start, t.end) for t in store.coverage().tiers}
        assert spans == {
            "1m": (cut_1m, None),
            "1h": (cut_1h, now - HOUR),
            "1d": (cut_1d, BASE + 3 * DAY),
        }
        _no_duplicates(store)


def test_retention_never_removes_rows_not_rolled_up_yet(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    rows = _spread_rows(rng, 3)
    with open_store(tmp_path / "s.duckdb", retention_1m="2h", rollup_delay_s="30d") as store:
        store.write(rows)
        report = store.run_maintenance(now=BASE + 3 * DAY)
        assert report.deleted_rows["traffic_1m"] == 0
        assert store.fetch("SELECT sum(bytes) FROM traffic_1m", [])[0][0] == int(rows.bytes.sum())


def test_compaction_runs_once_deletions_pass_the_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    rows = _spread_rows(rng, 3)
    with open_store(tmp_path / "s.duckdb", retention_1m="2h", compact_threshold=0.1) as store:
        store.write(rows)
        first = store.run_maintenance(now=BASE + 3 * DAY)
        assert first.deleted_rows["traffic_1m"] > 0 and first.compacted
        second = store.run_maintenance(now=BASE + 3 * DAY)
        assert not second.compacted  # nothing deleted since
    with open_store(tmp_path / "t.duckdb", retention_1m="2h", compact_threshold=1.0) as store:
        store.write(rows)
        report = store.run_maintenance(now=BASE + 3 * DAY)
        assert report.deleted_rows["traffic_1m"] > 0 and not report.compacted


def test_flow_detail_retention(tmp_path: Path) -> None:
    settings = {"flow_detail": {"enabled": True, "retention": "1h"}}
    with open_store(tmp_path / "s.duckdb", **settings) as store:
        recs = FlowRecords.build(3, ts=[BASE, BASE + 3000, BASE + 7000], bytes=[1, 2, 3])
        assert store.write_flows(recs) == 3
        report = store.run_maintenance(now=BASE + 2 * HOUR)
        assert report.deleted_rows["flows"] == 2
        assert store.coverage().flows_start == BASE + HOUR
        assert store.fetch("SELECT ts FROM flows", []) == [(BASE + 7000,)]
        # older than the retention: not kept at all
        assert store.write_flows(FlowRecords.build(1, ts=BASE, bytes=9)) == 0


def test_flush_log_is_pruned_after_a_week(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.write(AggregateRows.build(1, ts=BASE, bytes=1), flush_id="f-1")
        store.run_maintenance(now=BASE + 6 * DAY)
        assert store.write(AggregateRows.build(1, ts=BASE, bytes=1), flush_id="f-1").duplicate
        report = store.run_maintenance(now=BASE + 8 * DAY)
        assert report.deleted_rows["flush_log"] == 1
        assert not store.write(AggregateRows.build(1, ts=BASE, bytes=1), flush_id="f-1").duplicate


def test_flow_detail_off_keeps_nothing(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        assert store.write_flows(FlowRecords.build(2, ts=BASE, bytes=1)) == 0
        assert store.fetch("SELECT count(*) FROM flows", []) == [(0,)]
        assert store.coverage().flows_start is None
