"""DuckDBStore write path: merge per key, idempotent flushes, dimensions, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trafficatlas.aggregate.rows import KEY_COLUMNS, AggregateRows
from trafficatlas.errors import ConfigError, DatabaseError

from support.storedata import BASE, open_store, random_rows, reference

KEYS = ", ".join(KEY_COLUMNS)


def _rows_1m(store: object) -> list[tuple[object, ...]]:
    return store.fetch(  # type: ignore[attr-defined, no-any-return]
        f"SELECT {KEYS}, bytes, packets, flows FROM traffic_1m ORDER BY ALL", []
    )


def _duplicate_keys(store: object, table: str) -> int:
    row = store.fetch(  # type: ignore[attr-defined]
        f"SELECT count(*) - count(DISTINCT ({KEYS})) FROM {table}", []
    )
    return int(row[0][0])


def test_same_key_merges_within_and_across_flushes(tmp_path: Path) -> None:
    rows = AggregateRows.build(
        3, ts=BASE, peer="p", country=["CH", "CH", "DE"], bytes=[1, 2, 4], packets=1, flows=1
    )
    with open_store(tmp_path / "s.duckdb") as store:
        first = store.write(rows)
        assert first.rows_by_tier == {"1m": 2}
        store.write(rows)  # same bucket again (no flush id): sums add up
        got = {(r[8], r[12], r[13], r[14]) for r in _rows_1m(store)}
        assert got == {("CH", 6, 4, 4), ("DE", 8, 2, 2)}
        assert _duplicate_keys(store, "traffic_1m") == 0


def test_flush_id_makes_retries_noops_also_after_reopen(tmp_path: Path) -> None:
    rows = AggregateRows.build(2, ts=BASE, country=["CH", "DE"], bytes=[10, 20], packets=1)
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        assert not store.write(rows, flush_id="boot1-0001").duplicate
        again = store.write(rows, flush_id="boot1-0001")
        assert again.duplicate and again.rows_by_tier == {}
    with open_store(path) as store:
        assert store.write(rows, flush_id="boot1-0001").duplicate
        assert store.write(rows, flush_id="boot1-0002").rows_by_tier == {"1m": 2}
        assert sorted(r[12] for r in _rows_1m(store)) == [20, 40]


def test_timestamps_are_floored_to_the_interval(tmp_path: Path) -> None:
    rows = AggregateRows.build(3, ts=[BASE + 1, BASE + 59, BASE + 60], bytes=[1, 2, 4])
    with open_store(tmp_path / "s.duckdb") as store:
        store.write(rows)
        assert [(r[0], r[12]) for r in _rows_1m(store)] == [(BASE, 3), (BASE + 60, 4)]


def test_many_flushes_match_brute_force(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    parts = [random_rows(rng, BASE + i * 600, 10, 40) for i in range(6)]
    with open_store(tmp_path / "s.duckdb") as store:
        for part in parts:
            store.write(part)
        store.write(parts[2])  # a re-sent batch merges into existing buckets
        by = [c for c in KEY_COLUMNS if c != "ts"]
        got = store.fetch(
            f"SELECT {', '.join(by)}, sum(bytes), sum(packets), sum(flows)"
            f" FROM traffic_1m GROUP BY ALL",
            [],
        )
        assert _duplicate_keys(store, "traffic_1m") == 0
    want = reference([*parts, parts[2]], 0, 2**40, by)
    assert {tuple(r[:-3]): list(r[-3:]) for r in got} == {k: v[:3] for k, v in want.items()}


def test_dimension_tables_follow_the_rows(tmp_path: Path) -> None:
    rows = AggregateRows.build(
        1, ts=BASE, asn=13335, as_orgs={13335: "Cloudflare"}, cities={("CH", "Bern"): (46.9, 7.4)}
    )
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        store.write(rows)
        renamed = AggregateRows.build(1, ts=BASE, asn=13335, as_orgs={13335: "Cloudflare, Inc."})
        store.write(renamed)
    with open_store(path) as store:
        assert store.fetch("SELECT asn, org FROM asn_names", []) == [(13335, "Cloudflare, Inc.")]
        assert store.fetch("SELECT * FROM cities", []) == [("CH", "Bern", 46.9, 7.4)]


def test_none_in_a_column_is_a_value_error_and_the_store_stays_usable(tmp_path: Path) -> None:
    bad = AggregateRows.build(2, ts=BASE, bytes=[1, 2])
    bad.country[1] = None
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(ValueError, match="rejected"):
            store.write(bad)
        assert _rows_1m(store) == []
        store.write(AggregateRows.build(1, ts=BASE, bytes=5))
        assert len(_rows_1m(store)) == 1


def test_interval_mismatch_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path, interval_s=60).close()
    with pytest.raises(ConfigError, match="interval_s = 60"):
        open_store(path, interval_s=300)


def test_closed_store_refuses_reads_and_writes(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    store.close()
    store.close()  # idempotent
    with pytest.raises(DatabaseError, match="closed"):
        store.fetch("SELECT 1", [])
    with pytest.raises(DatabaseError, match="closed"):
        store.write(AggregateRows.build(1, ts=BASE))


def test_empty_flush_is_fine(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        result = store.write(AggregateRows.build(0), flush_id="empty")
        assert result.rows_in == 0 and not result.duplicate
        assert store.write(AggregateRows.build(0), flush_id="empty").duplicate
