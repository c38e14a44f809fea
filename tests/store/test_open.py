"""Opening store files: corrupt or foreign files are refused untouched, locks, migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.errors import DatabaseError
from trafficatlas.store import StoreSettings
from trafficatlas.store import open_store as open_with_metadata
from trafficatlas.store.schema import LATEST_VERSION, migrate

from support.storedata import BASE, open_store


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database\n" * 200,
        b"SQLite format 3\x00" + b"\x00" * 4000,  # another engine's file
        b"\x00" * 4,  # shorter than any header
    ],
    ids=["garbage", "sqlite", "tiny"],
)
def test_foreign_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "s.duckdb"
    path.write_bytes(content)
    before = _snapshot(tmp_path)
    with pytest.raises(DatabaseError, match=r"not a DuckDB database.*left untouched"):
        open_store(path)
    assert _snapshot(tmp_path) == before


def test_truncated_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        store.write(AggregateRows.build(1, ts=BASE, bytes=1))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    before = _snapshot(tmp_path)
    with pytest.raises(DatabaseError, match="cannot open store file"):
        open_store(path)
    assert _snapshot(tmp_path) == before


def test_duckdb_file_of_another_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    with pytest.raises(DatabaseError, match="not a trafficatlas store"):
        open_store(path)
    conn = duckdb.connect(str(path))
    assert conn.execute("SHOW TABLES").fetchall() == [("invoices",)]
    conn.close()


def test_directory_as_path(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="is a directory"):
        open_store(tmp_path)


def test_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, duckdb
                conn = duckdb.connect({str(path)!r})
                print("open", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(DatabaseError, match="in use by another process"):
            open_store(path)
    finally:
        holder.communicate("", timeout=30)
    open_store(path).close()  # free again once the holder exited


def test_migrates_an_older_file_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    conn = duckdb.connect(str(path))
    assert migrate(conn, target=1) == [1]
    conn.execute("INSERT INTO store_state VALUES ('interval_s', 60)")
    conn.execute(
        "INSERT INTO traffic_1m VALUES (?, 'netflow', '', '', '', 1, 4, 6, 'CH', '', '', 3303,"
        " 100, 2, 1)",
        [BASE],
    )
    conn.close()
    with open_store(path, flow_detail={"enabled": True}) as store:
        assert store.fetch("SELECT version FROM schema_version ORDER BY 1", []) == [(1,), (2,)]
        assert store.fetch("SELECT ts, country, bytes FROM traffic_1m", []) == [(BASE, "CH", 100)]
        assert store.fetch("SELECT count(*) FROM flows", []) == [(0,)]
    assert LATEST_VERSION == 2


def test_failed_migration_rolls_back_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    conn = duckdb.connect(str(path))
    migrate(conn, target=1)
    conn.execute("CREATE TABLE flows (x INTEGER)")  # collides with migration 2
    conn.close()
    with pytest.raises(DatabaseError, match="migration 2"):
        open_store(path)
    conn = duckdb.connect(str(path))
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (1,)
    conn.close()


def test_file_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    open_store(path).close()
    conn = duckdb.connect(str(path))
    conn.execute("INSERT INTO schema_version VALUES (99, 'future', now())")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="schema version 99, newer"):
        open_store(path)
    assert path.read_bytes() == before


def test_open_store_creates_both_files_in_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with open_with_metadata(StoreSettings(), data_dir) as store:
        store.write(AggregateRows.build(1, ts=BASE, peer="wg-peer-1", bytes=1))
        assert store.metadata is not None
        assert [p.id for p in store.metadata.peers()] == ["wg-peer-1"]
    assert sorted(os.listdir(data_dir))[:2] == ["metadata.sqlite3", "trafficatlas.duckdb"]
