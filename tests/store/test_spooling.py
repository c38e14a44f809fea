"""SpoolingWriter over a real DuckDB store that is unreachable for a while: every flush lands
exactly once, in order; lost acknowledgements, refused batches and restarts included.

``FlakyStore`` (support.flakystore) is the only stand-in: a thin wrapper that makes the real
store's writes raise StoreUnavailable while the test says it is down (the component under test
is the spool)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store import FlowDetailSettings, StoreSettings
from trafficatlas.store.duckdb_store import DuckDBStore
from trafficatlas.store.errors import StoreUnavailable
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.spool import Spool
from trafficatlas.store.spooling import SpoolingWriter

from support.flakystore import FlakyStore
from support.storedata import BASE, random_rows


def flushes(count: int) -> list[tuple[str, AggregateRows]]:
    rng = np.random.default_rng(11)
    return [(f"flush-{i:04d}", random_rows(rng, BASE + i * 60, 1, 40)) for i in range(count)]


def stored_totals(store: FlakyStore) -> tuple[int, int, int, int]:
    row = store.fetch("SELECT count(*), sum(bytes), sum(packets), sum(flows) FROM traffic_1m", [])[
        0
    ]
    return int(row[0]), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)


def submitted_totals(parts: list[tuple[str, AggregateRows]]) -> tuple[int, int, int]:
    rows = AggregateRows.concat([r for _, r in parts])
    t = rows.totals()
    return t["bytes"], t["packets"], t["flows"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FlakyStore]:
    settings = StoreSettings(flow_detail=FlowDetailSettings(enabled=True))
    s = FlakyStore(DuckDBStore(settings, tmp_path / "s.duckdb"))
    yield s
    s.close()


def test_outage_spools_and_replay_lands_every_flush_once_in_order(
    tmp_path: Path, store: FlakyStore
) -> None:
    parts = flushes(12)
    writer = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    for fid, rows in parts[:3]:
        writer.write(rows, fid)  # store up: straight through
    assert writer.spool.backlog_batches == 0 and writer.available is True
    store.down = True
    for fid, rows in parts[3:8]:
        writer.write(rows, fid)  # never raises: spooled
    assert writer.available is False and writer.spool.backlog_batches == 5
    assert writer.replay() is False  # still down: nothing replayed, nothing lost
    assert writer.spool.backlog_batches == 5
    store.down = False
    fid, rows = parts[8]
    writer.write(rows, fid)
    # the store is back, but a backlog exists: the new flush queues behind it (order)
    assert writer.spool.backlog_batches == 6
    assert writer.replay() is True
    for fid, rows in parts[9:]:
        writer.write(rows, fid)
    assert store.received == [fid for fid, _ in parts]
    assert stored_totals(store)[1:] == submitted_totals(parts)
    m = writer.spool.metrics
    assert (m.spooled_batches, m.replayed_batches, m.dropped_batches) == (6, 6, 0)
    assert writer.status()["backlog_batches"] == 0 and writer.status()["store_available"]
    writer.close()


def test_a_lost_acknowledgement_is_not_counted_twice(tmp_path: Path, store: FlakyStore) -> None:
    parts = flushes(3)
    writer = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    store.lose_ack_next = 1  # flush 0 is stored, but the writer hears a network error
    for fid, rows in parts:
        writer.write(rows, fid)
    assert writer.spool.backlog_batches == 3
    assert writer.replay() is True
    # flush 0 reached the store twice with the same id: the second was a no-op
    assert store.received == ["flush-0000", "flush-0000", "flush-0001", "flush-0002"]
    assert stored_totals(store)[1:] == submitted_totals(parts)
    writer.close()


def test_background_retry_replays_when_the_store_returns(tmp_path: Path, store: FlakyStore) -> None:
    parts = flushes(8)
    store.down = True
    writer = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=0.05)
    writer.start()
    for fid, rows in parts:
        writer.write(rows, fid)
    time.sleep(0.2)  # several retries fail meanwhile
    assert writer.spool.backlog_batches == 8
    store.down = False
    deadline = time.monotonic() + 10
    while writer.spool.backlog_batches and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.close()
    assert writer.spool.backlog_batches == 0
    assert store.received == [fid for fid, _ in parts]
    assert stored_totals(store)[1:] == submitted_totals(parts)


def test_store_opened_later_by_the_retry(tmp_path: Path, store: FlakyStore) -> None:
    parts = flushes(4)
    attempts: list[float] = []
    opened: list[object] = []

    def opener() -> FlakyStore:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise StoreUnavailable("no route to the server (test)")
        return store

    writer = SpoolingWriter(
        Spool(tmp_path / "spool", 1 << 30), retry_s=60, opener=opener, on_open=opened.append
    )
    assert writer.connect() is False and writer.store is None
    for fid, rows in parts:
        writer.write(rows, fid)  # no store yet: spooled
    assert writer.replay() is False  # second attempt still fails
    assert writer.replay() is True  # third opens it and drains the backlog
    assert opened == [store] and writer.store is store
    assert stored_totals(store)[1:] == submitted_totals(parts)
    writer.close()


def test_a_refused_batch_is_set_aside_and_the_rest_replayed(
    tmp_path: Path, store: FlakyStore
) -> None:
    parts = flushes(3)
    writer = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    store.down = True
    for fid, rows in parts:
        writer.write(rows, fid)
    store.down = False
    store.reject_flush = "flush-0001"
    assert writer.replay() is True
    assert store.received == ["flush-0000", "flush-0002"]
    assert writer.spool.metrics.rejected_batches == 1
    assert len(list((tmp_path / "spool" / "rejected").glob("*.npz"))) == 1  # kept for a look
    writer.close()


def test_restart_replays_what_a_previous_run_left(tmp_path: Path, store: FlakyStore) -> None:
    parts = flushes(5)
    store.down = True
    first = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    for fid, rows in parts:
        first.write(rows, fid)
    # The previous run crashed right after the store accepted flush 0, before removing it.
    store.down = False
    store.inner.write(parts[0][1], flush_id=parts[0][0])
    first.close()
    second = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    assert second.spool.backlog_batches == 5
    second.start()  # its first pass runs at once
    deadline = time.monotonic() + 10
    while second.spool.backlog_batches and time.monotonic() < deadline:
        time.sleep(0.02)
    second.close()
    assert second.spool.backlog_batches == 0
    assert stored_totals(store)[1:] == submitted_totals(parts)


def test_flow_records_are_spooled_too(tmp_path: Path, store: FlakyStore) -> None:
    records = FlowRecords.build(
        4, ts=BASE, remote_addr="192.0.2.9", remote_port=[1, 2, 3, 4], bytes=[10, 20, 30, 40]
    )
    writer = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    store.down = True
    writer.write_flows(records)
    assert writer.spool.backlog_batches == 1
    store.down = False
    assert writer.replay() is True
    got = store.fetch("SELECT count(*), sum(bytes) FROM flows", [])[0]
    assert (int(got[0]), int(got[1])) == (4, 100)
    writer.close()


def test_other_store_errors_reach_the_pipeline(tmp_path: Path, store: FlakyStore) -> None:
    """Only an unreachable store is spooled; a store that refuses rows raises to the pipeline,
    which keeps the flush in memory and retries it with the same id."""
    writer = SpoolingWriter(Spool(tmp_path / "spool", 1 << 30), store, retry_s=60)
    store.reject_flush = "flush-0000"
    fid, rows = flushes(1)[0]
    with pytest.raises(ValueError, match="rejected"):
        writer.write(rows, fid)
    assert writer.spool.backlog_batches == 0
    writer.close()
