"""ClickHouse writes: a flush counted once however often it is retried, nodes, privacy, peers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.query import Filters, top, totals
from trafficatlas.store import MetadataStore, StoreSettings
from trafficatlas.store.clickhouse import write as ch_write
from trafficatlas.store.clickhouse.conn import DriverConnection
from trafficatlas.store.clickhouse.store import ClickHouseStore
from trafficatlas.store.errors import StoreUnavailable

from support.clickhouse import ClickHouseServer, StoreFactory
from support.storedata import BASE, DAY, HOUR, random_rows, reference
from support.tcpcut import CuttingProxy


def _rows(seed: int = 1, minutes: int = 30, per_minute: int = 4) -> AggregateRows:
    return random_rows(np.random.default_rng(seed), BASE, minutes, per_minute)


def _bytes(store: ClickHouseStore, since: int = BASE, until: int = BASE + DAY) -> int:
    return totals(store, Filters(), since, until).totals.bytes


def test_same_flush_id_is_written_once(open_ch: StoreFactory) -> None:
    store = open_ch()
    rows = _rows()
    first = store.write(rows, flush_id="flush-1")
    assert not first.duplicate and first.rows_by_tier == {"1m": len(rows)}
    again = store.write(rows, flush_id="flush-1")
    assert again.duplicate and again.rows_by_tier == {}
    assert _bytes(store) == rows.totals()["bytes"]
    store.write(rows)  # no flush id: no deduplication
    assert _bytes(store) == 2 * rows.totals()["bytes"]
    # The 1h and 1d tiers were fed by the views exactly once per write too.
    for table in ("traffic_1h", "traffic_1d"):
        assert (
            store.fetch(f"SELECT sum(bytes) FROM {table}", {})[0][0] == 2 * rows.totals()["bytes"]
        )


def test_rows_of_two_nodes_add_up(open_ch: StoreFactory) -> None:
    a = open_ch(node_id="collector-a")
    b = open_ch(database=a.layout.database, node_id="collector-b")
    rows = _rows(2)
    # The same flush id on two nodes is two flushes: ids are scoped by node.
    assert not a.write(rows, flush_id="f").duplicate
    assert not b.write(rows, flush_id="f").duplicate
    assert b.write(rows, flush_id="f").duplicate
    by_node = dict(a.fetch("SELECT node, sum(bytes) FROM traffic_1m GROUP BY node", {}))
    assert by_node == {"collector-a": rows.totals()["bytes"], "collector-b": rows.totals()["bytes"]}
    res = top(b, ["country"], Filters(), None, BASE, BASE + HOUR)
    want = reference([rows, rows], res.since, res.until, ["country"])
    assert {tuple(r.key.values()): r.bytes for r in res.rows} == {k: v[0] for k, v in want.items()}


def test_large_flush_is_chunked_and_a_partial_retry_completes_it(
    open_ch: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ch_write, "CHUNK_ROWS", 10)
    store = open_ch()
    rows = _rows(3, minutes=7, per_minute=5)  # 35 rows: chunks of 10, 10, 10, 5
    head = AggregateRows(**{n: getattr(rows, n)[:20] for n in AggregateRows.DTYPES})
    store.write(head, flush_id="big")  # as if the connection broke after two chunks
    ids = {r[0] for r in store.fetch("SELECT flush_id FROM flush_log", {})}
    assert ids == {"big#0", "big#1"}
    result = store.write(rows, flush_id="big")
    assert not result.duplicate and result.rows_by_tier == {"1m": 15}
    assert store.write(rows, flush_id="big").duplicate
    assert _bytes(store) == rows.totals()["bytes"]


def test_retry_after_a_network_error_past_the_commit_counts_once(
    clickhouse_server: ClickHouseServer, open_server_store: StoreFactory
) -> None:
    direct = open_server_store()
    proxy = CuttingProxy(clickhouse_server.port)
    try:
        ch = direct.settings.clickhouse.model_copy(update={"port": proxy.port})
        via_proxy = ClickHouseStore(
            direct.settings.model_copy(update={"clickhouse": ch}),
            lambda: DriverConnection(ch, ch.database),
        )
        rows = _rows(4)
        proxy.cut_after_insert(b"INSERT INTO traffic_in")
        with pytest.raises(StoreUnavailable):
            via_proxy.write(rows, flush_id="flush-7")
        assert proxy.cuts == 1
        # The server committed the block before the client lost the connection...
        assert _bytes(direct) == rows.totals()["bytes"]
        # ...so the retry (the driver reconnects) is recognized and writes nothing.
        assert via_proxy.write(rows, flush_id="flush-7").duplicate
        assert _bytes(direct) == rows.totals()["bytes"]
        via_proxy.close()
    finally:
        proxy.stop()


def test_unreachable_mid_life_is_store_unavailable(
    clickhouse_server: ClickHouseServer, open_server_store: StoreFactory
) -> None:
    direct = open_server_store()
    proxy = CuttingProxy(clickhouse_server.port)
    ch = direct.settings.clickhouse.model_copy(
        update={"port": proxy.port, "connect_timeout_s": 1.0, "send_receive_timeout_s": 2.0}
    )
    store = ClickHouseStore(
        direct.settings.model_copy(update={"clickhouse": ch}),
        lambda: DriverConnection(ch, ch.database),
    )
    try:
        store.write(_rows(), flush_id="a")
        proxy.stop()
        with pytest.raises(StoreUnavailable):
            store.write(_rows(5), flush_id="b")
        with pytest.raises(StoreUnavailable):
            store.fetch("SELECT count() FROM traffic_1m", {})
    finally:
        proxy.stop()
        store.close()
    assert _bytes(direct) == _rows().totals()["bytes"]


def test_private_peers_are_blanked_and_history_scrubbed(
    open_ch: StoreFactory, tmp_path: Path
) -> None:
    meta = MetadataStore(tmp_path / "meta.sqlite3")
    try:
        meta.set_peer("peer-b", private=True)
        store = open_ch(StoreSettings(flow_detail={"enabled": True}), meta)  # type: ignore[arg-type]
        rows = _rows(6)
        result = store.write(rows, flush_id="p")
        assert result.private_rows == int((rows.peer == "peer-b").sum()) > 0
        by_peer = top(store, ["peer", "country", "asn"], Filters(), None, BASE, BASE + HOUR)
        assert {r.key["country"] for r in by_peer.rows if r.key["peer"] == "peer-b"} == {""}
        assert {r.key["country"] for r in by_peer.rows if r.key["peer"] == "peer-a"} != {""}
        scrubbed = store.scrub_peer("peer-a")
        assert scrubbed["traffic_1m"] > 0 and scrubbed["flows"] == 0
        after = top(store, ["peer", "country", "city", "asn"], Filters(), None, BASE, BASE + HOUR)
        assert {
            (r.key["country"], r.key["city"], r.key["asn"])
            for r in after.rows
            if r.key["peer"] == "peer-a"
        } == {("", "", 0)}
        assert after.totals == by_peer.totals  # nothing lost, nothing counted twice
        assert store.scrub_peer("peer-a")["traffic_1m"] == 0
    finally:
        meta.close()


def test_peer_names_and_privacy_are_shared_between_nodes(
    open_ch: StoreFactory, tmp_path: Path
) -> None:
    meta_a, meta_b = MetadataStore(tmp_path / "a.sqlite3"), MetadataStore(tmp_path / "b.sqlite3")
    try:
        meta_a.set_peer("peer-a", name="Alice")
        a = open_ch(metadata=meta_a, node_id="a")
        a.write(_rows(7), flush_id="1")  # peer-b/peer-c are only seen: they override nothing
        meta_b.set_peer("peer-b", private=True)
        b = open_ch(database=a.layout.database, metadata=meta_b, node_id="b")
        assert b.peer_names()["peer-a"] == "Alice"
        assert meta_b.peer("peer-c") is not None  # listed on b although only a saw it
        a.run_maintenance(now=BASE)  # publishes and reloads peers
        result = a.write(_rows(8), flush_id="2")
        assert result.private_rows == int((_rows(8).peer == "peer-b").sum()) > 0
        assert a.peer_names()["peer-a"] == "Alice"
    finally:
        meta_a.close()
        meta_b.close()


def test_rows_older_than_every_tier_are_counted_as_expired(open_ch: StoreFactory) -> None:
    store = open_ch(StoreSettings(retention_1h="10d", retention_1d="30d"))  # type: ignore[arg-type]
    store.run_maintenance(now=BASE + 60 * DAY)
    old = random_rows(np.random.default_rng(9), BASE, 3, 2)
    result = store.write(old, flush_id="late")
    assert result.expired_rows == len(old) and result.rows_by_tier == {}


def test_a_store_carries_on_after_the_server_restarts(
    clickhouse_server: ClickHouseServer, open_server_store: StoreFactory
) -> None:
    store = open_server_store()
    store.write(_rows(10), flush_id="before")
    clickhouse_server.stop(grace_s=0.0)  # as if it crashed
    try:
        with pytest.raises(StoreUnavailable):
            store.write(_rows(11), flush_id="during")
    finally:
        clickhouse_server.resume()
    store.write(_rows(11), flush_id="during")  # what a spool replays: written once
    assert store.write(_rows(11), flush_id="during").duplicate
    want = _rows(10).totals()["bytes"] + _rows(11).totals()["bytes"]
    assert _bytes(store) == want
