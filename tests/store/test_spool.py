"""The on-disk spool with real files: round trip, order, bound and drops, crash safety, corrupt
files moved aside, restart, one process per folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.errors import ConfigError, DatabaseError, DecodeError
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.spool import Spool
from trafficatlas.store.spool_format import SpoolBatch, read_batch

from support.storedata import BASE, random_rows


def rows(seed: int = 1, n_minutes: int = 4) -> AggregateRows:
    return random_rows(np.random.default_rng(seed), BASE, n_minutes, 25)


def flush_id(i: int) -> str:
    return f"{i:032x}"  # same length as a uuid4 hex, so every file has the same size


def drain(spool: Spool) -> list[str | None]:
    out = []
    while (item := spool.take()) is not None:
        out.append(item.batch.flush_id)
        spool.done(item)
    return out


def files(spool: Spool) -> list[Path]:
    return sorted(spool.path.glob("*.npz"))


def assert_same_rows(a: AggregateRows, b: AggregateRows) -> None:
    for name, dt in AggregateRows.DTYPES.items():
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == np.dtype(dt), name
        assert x.tolist() == y.tolist(), name
    assert a.as_orgs == b.as_orgs
    assert a.cities == b.cities


def test_rows_and_flows_round_trip_exactly(tmp_path: Path) -> None:
    original = rows()
    original.city[:3] = ["Zürich", "São Paulo", "東京"]  # non-ASCII text survives
    original.as_orgs[64512] = "Ünïcode AS"
    flows = FlowRecords.build(
        3,
        ts=[BASE, BASE + 1, BASE + 2],
        peer=["p1", "", "p1"],
        local_addr=["10.0.0.1", "10.0.0.2", "fd00::1"],
        remote_addr=["192.0.2.1", "2001:db8::5", "192.0.2.1"],
        remote_port=[443, 53, 65535],
        bytes=[1, 2, 2**63],
    )
    spool = Spool(tmp_path / "spool", 1 << 30)
    spool.put(SpoolBatch.of_rows(original, flush_id(7)))
    spool.put(SpoolBatch.of_flows(flows))
    spool.put(SpoolBatch.of_rows(AggregateRows.build(0), flush_id(8)))  # empty is fine too
    # owner-only: flow-detail batches hold addresses
    assert spool.path.stat().st_mode & 0o777 == 0o700
    assert {f.stat().st_mode & 0o777 for f in files(spool)} == {0o600}
    first = spool.take()
    assert first is not None and first.batch.kind == "rows"
    assert first.batch.flush_id == flush_id(7)
    assert first.batch.rows is not None
    assert_same_rows(first.batch.rows, original)
    spool.done(first)
    second = spool.take()
    assert second is not None and second.batch.flows is not None
    assert second.batch.flush_id is None
    for name in FlowRecords.DTYPES:
        assert getattr(second.batch.flows, name).tolist() == getattr(flows, name).tolist(), name
    spool.done(second)
    third = spool.take()
    assert third is not None and third.batch.rows is not None and len(third.batch.rows) == 0
    spool.done(third)
    assert spool.take() is None
    assert spool.backlog_batches == 0 and spool.backlog_bytes == 0
    assert spool.metrics.spooled_batches == 3 and spool.metrics.replayed_batches == 3
    assert spool.metrics.replayed_rows == len(original) + 3
    spool.close()


def test_batches_come_back_oldest_first_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "spool"
    spool = Spool(path, 1 << 30)
    for i in range(3):
        spool.put(SpoolBatch.of_rows(rows(i), flush_id(i)))
    item = spool.take()
    assert item is not None and item.batch.flush_id == flush_id(0)
    spool.done(item)
    spool.close()
    # restart: what was left is replayed first, new batches queue behind it
    again = Spool(path, 1 << 30)
    assert again.backlog_batches == 2
    again.put(SpoolBatch.of_rows(rows(3), flush_id(3)))
    assert drain(again) == [flush_id(1), flush_id(2), flush_id(3)]
    again.close()


def test_release_keeps_a_batch_first_in_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 30)
    for i in range(2):
        spool.put(SpoolBatch.of_rows(rows(i), flush_id(i)))
    item = spool.take()
    assert item is not None
    spool.release(item)  # the store did not take it
    assert drain(spool) == [flush_id(0), flush_id(1)]
    spool.close()


def test_beyond_max_bytes_the_oldest_are_dropped_and_counted(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", 1 << 30)
    probe.put(SpoolBatch.of_rows(rows(), flush_id(0)))
    size = probe.backlog_bytes
    probe.close()
    spool = Spool(tmp_path / "spool", 3 * size + size // 2)  # room for three batches
    n = len(rows())
    for i in range(5):
        spool.put(SpoolBatch.of_rows(rows(), flush_id(i)))
        assert spool.backlog_bytes <= spool.max_bytes
    assert spool.metrics.dropped_batches == 2
    assert spool.metrics.dropped_rows == 2 * n
    assert spool.metrics.spooled_batches == 5
    assert spool.backlog_batches == 3 == len(files(spool))
    assert drain(spool) == [flush_id(2), flush_id(3), flush_id(4)]  # the newest are kept
    spool.close()


def test_a_batch_larger_than_the_spool_is_dropped_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 2048)
    big = rows(n_minutes=40)
    spool.put(SpoolBatch.of_rows(big, flush_id(1)))
    assert spool.metrics.dropped_batches == 1 and spool.metrics.dropped_rows == len(big)
    assert spool.backlog_batches == 0 and not list(spool.path.iterdir())[1:]  # only .lock
    spool.close()


def test_the_batch_being_replayed_is_never_dropped(tmp_path: Path) -> None:
    probe = Spool(tmp_path / "probe", 1 << 30)
    probe.put(SpoolBatch.of_rows(rows(), flush_id(0)))
    size = probe.backlog_bytes
    probe.close()
    spool = Spool(tmp_path / "spool", 2 * size + size // 2)
    spool.put(SpoolBatch.of_rows(rows(), flush_id(0)))
    item = spool.take()  # the replay thread is writing it to the store right now
    assert item is not None
    for i in range(1, 4):
        spool.put(SpoolBatch.of_rows(rows(), flush_id(i)))
    spool.done(item)  # the store accepted it: replayed, not dropped
    assert spool.metrics.replayed_batches == 1
    assert spool.metrics.dropped_batches == 2  # batches 1 and 2 made room for 3
    assert drain(spool) == [flush_id(3)]
    spool.close()


def test_a_partial_temp_file_from_a_crash_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "spool"
    spool = Spool(path, 1 << 30)
    spool.put(SpoolBatch.of_rows(rows(1), flush_id(1)))
    complete = files(spool)[0]
    spool.close()
    # a crash while writing batch 2: half a file under its temp name
    torn = path / "00000000000000000002-rows-100.npz.tmp"
    torn.write_bytes(complete.read_bytes()[: complete.stat().st_size // 2])
    again = Spool(path, 1 << 30)
    assert not torn.exists()
    assert again.backlog_batches == 1
    assert again.metrics.corrupt_files == 0
    assert drain(again) == [flush_id(1)]
    again.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "foreign npz", "pickle"])
def test_corrupt_files_are_moved_aside_counted_and_skipped(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "spool"
    spool = Spool(path, 1 << 30)
    for i in range(3):
        spool.put(SpoolBatch.of_rows(rows(i), flush_id(i)))
    victim = files(spool)[1]
    spool.close()
    data = victim.read_bytes()
    if damage == "truncated":
        victim.write_bytes(data[: len(data) - 40])
    elif damage == "garbage":
        victim.write_bytes(b"\x00not a spool file" * 50)
    elif damage == "empty":
        victim.write_bytes(b"")
    elif damage == "foreign npz":
        with victim.open("wb") as fh:
            np.savez(fh, meta=np.frombuffer(b'{"version": 1, "kind": "rows"}', dtype=np.uint8))
    else:  # a pickled object array must never be unpickled
        with victim.open("wb") as fh:
            np.savez(fh, meta=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    damaged = victim.read_bytes()
    with pytest.raises(DecodeError) as exc:
        read_batch(victim)
    assert exc.value.kind == "spool_corrupt"
    again = Spool(path, 1 << 30)
    assert drain(again) == [flush_id(0), flush_id(2)]
    assert again.metrics.corrupt_files == 1
    kept = path / "corrupt" / victim.name  # moved aside as it was, not deleted
    assert not victim.exists() and kept.read_bytes() == damaged
    again.close()


def test_pickle_payload_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.touch, ())  # type: ignore[return-value]

    path = tmp_path / "spool"
    path.mkdir()
    evil = path / "00000000000000000001-rows-1.npz"
    with evil.open("wb") as fh:
        np.savez(fh, meta=np.array([Boom()], dtype=object), allow_pickle=True)
    with np.load(evil, allow_pickle=True) as archive:  # the payload is live: loading runs it
        archive["meta"]
    assert marker.exists()
    marker.unlink()
    spool = Spool(path, 1 << 30)
    assert spool.take() is None
    assert spool.metrics.corrupt_files == 1
    assert not marker.exists()
    spool.close()


def test_one_process_per_spool_folder(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 30)
    with pytest.raises(ConfigError, match="in use by another"):
        Spool(tmp_path / "spool", 1 << 30)
    spool.close()
    Spool(tmp_path / "spool", 1 << 30).close()  # released on close


def test_a_spool_the_disk_refuses_is_a_clear_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 1 << 30)
    spool.put(SpoolBatch.of_rows(rows(0), flush_id(0)))
    shutil.rmtree(spool.path)  # the folder vanished under the collector
    with pytest.raises(DatabaseError, match="cannot write to spool folder"):
        spool.put(SpoolBatch.of_rows(rows(1), flush_id(1)))
    assert spool.metrics.write_errors == 1
    spool.close()


def test_a_bad_spool_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot use spool folder"):
        Spool(blocker / "spool", 1 << 30)
