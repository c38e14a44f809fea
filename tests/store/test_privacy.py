"""Per-peer privacy: private peers count in totals, never in geography; flow records dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store import FlowRecords, MetadataStore, StoreSettings
from trafficatlas.store.duckdb_store import DuckDBStore

from support.storedata import BASE


@pytest.fixture
def meta(tmp_path: Path) -> MetadataStore:
    store = MetadataStore(tmp_path / "meta.sqlite3")
    yield store  # type: ignore[misc]
    store.close()


def _rows(ts: int) -> AggregateRows:
    return AggregateRows.build(
        4,
        ts=ts,
        peer=["alice", "bob", "bob", "bob"],
        country=["CH", "DE", "US", ""],
        label=["", "", "", "PRIVATE"],
        city=["Zurich", "Berlin", "", ""],
        asn=[3303, 3320, 15169, 0],
        direction=[1, 1, 2, 1],
        bytes=[10, 20, 40, 80],
        packets=[1, 2, 4, 8],
        flows=1,
    )


def test_private_peer_rows_lose_geography_but_keep_totals(
    tmp_path: Path, meta: MetadataStore
) -> None:
    meta.set_peer("bob", private=True)
    with DuckDBStore(StoreSettings(), tmp_path / "s.duckdb", meta) as store:
        result = store.write(_rows(BASE))
        assert result.private_rows == 3
        got = store.fetch(
            "SELECT peer, direction, country, label, city, asn, bytes, packets, flows"
            " FROM traffic_1m ORDER BY peer, direction",
            [],
        )
    # bob's three outbound/inbound rows merge into one row per direction, geography blank
    assert got == [
        ("alice", 1, "CH", "", "Zurich", 3303, 10, 1, 1),
        ("bob", 1, "", "", "", 0, 100, 10, 2),
        ("bob", 2, "", "", "", 0, 40, 4, 1),
    ]


def test_flag_set_by_another_process_applies_to_the_next_flush(
    tmp_path: Path, meta: MetadataStore
) -> None:
    with DuckDBStore(StoreSettings(), tmp_path / "s.duckdb", meta) as store:
        store.write(_rows(BASE))
        other = MetadataStore(meta.path)  # e.g. the CLI, through its own connection
        other.set_peer("alice", private=True)
        other.close()
        store.write(_rows(BASE + 60))
        alice = store.fetch(
            "SELECT ts, country, asn FROM traffic_1m WHERE peer = 'alice' ORDER BY ts", []
        )
    assert alice == [(BASE, "CH", 3303), (BASE + 60, "", 0)]


def test_scrub_blanks_history_in_every_tier_and_keeps_keys_unique(
    tmp_path: Path, meta: MetadataStore
) -> None:
    settings = StoreSettings(flow_detail={"enabled": True})  # type: ignore[arg-type]
    with DuckDBStore(settings, tmp_path / "s.duckdb", meta) as store:
        for minute in range(3):
            store.write(_rows(BASE + minute * 60))
        store.write_flows(FlowRecords.build(2, ts=BASE, peer=["bob", "alice"], bytes=1))
        store.run_maintenance(now=BASE + 2 * 86_400)
        meta.set_peer("bob", private=True)
        affected = store.scrub_peer("bob")
        assert affected["flows"] == 1 and affected["traffic_1m"] == 9
        for table in ("traffic_1m", "traffic_1h", "traffic_1d"):
            rows = store.fetch(
                f"SELECT count(*), count(DISTINCT (ts, direction)), sum(bytes),"
                f" max(country), max(asn) FROM {table} WHERE peer = 'bob'",
                [],
            )
            n, distinct, total, country, asn = rows[0]
            assert n == distinct and total == 3 * 140 and country == "" and asn == 0
            alice = store.fetch(f"SELECT max(country) FROM {table} WHERE peer = 'alice'", [])
            assert alice == [("CH",)]
        assert store.fetch("SELECT peer FROM flows", []) == [("alice",)]


def test_private_peers_flow_records_are_not_kept(tmp_path: Path, meta: MetadataStore) -> None:
    meta.set_peer("bob", private=True)
    settings = StoreSettings(flow_detail={"enabled": True})  # type: ignore[arg-type]
    with DuckDBStore(settings, tmp_path / "s.duckdb", meta) as store:
        recs = FlowRecords.build(
            3,
            ts=BASE,
            peer=["alice", "bob", "bob"],
            remote_addr=["192.0.2.1", "198.51.100.7", "203.0.113.9"],
            bytes=1,
        )
        assert store.write_flows(recs) == 1
        assert store.fetch("SELECT remote_addr FROM flows", []) == [("192.0.2.1",)]
