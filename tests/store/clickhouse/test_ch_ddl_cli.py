"""`trafficatlas clickhouse ddl`: the printed schema, run by an operator, is what the store uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.query import Filters, totals
from trafficatlas.store.clickhouse.conn import DriverConnection

from support.clickhouse import ClickHouseServer, StoreFactory, unique_database
from support.storedata import BASE, DAY, random_rows


def ddl(tmp_path: Path, database: str, *args: str) -> list[str]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store.clickhouse]\ndatabase = "{database}"\n')
    out = subprocess.run(
        [sys.executable, "-m", "trafficatlas", "clickhouse", "ddl", "-c", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [s.strip() for s in out.split(";\n") if s.strip()]


def test_printed_ddl_creates_the_schema_the_store_accepts(
    tmp_path: Path, clickhouse_server: ClickHouseServer, open_server_store: StoreFactory
) -> None:
    db = unique_database()
    statements = ddl(tmp_path, db)
    assert statements[0] == f"CREATE DATABASE IF NOT EXISTS {db}"
    assert statements[1] == f"USE {db}"
    assert not any("LowCardinality" in s or " TTL " in s for s in statements)  # 18.16
    clickhouse_server.execute(statements[0])
    try:
        conn = DriverConnection(clickhouse_server.settings(db).clickhouse, db)
        try:
            for stmt in statements[2:]:
                conn.execute(stmt)
        finally:
            conn.close()
        store = open_server_store(database=db)
        # the store found the schema at its version: no migration ran on top of the DDL
        assert store.fetch("SELECT count() FROM schema_version", {})[0][0] == 1
        rows = random_rows(np.random.default_rng(3), BASE, 20, 5)
        store.write(rows, flush_id="ddl-1")
        got = totals(store, Filters(), BASE, BASE + DAY).totals.bytes
        assert got == rows.totals()["bytes"]
    finally:
        clickhouse_server.execute(f"DROP DATABASE IF EXISTS {db}")


def test_ddl_for_a_current_cluster(tmp_path: Path) -> None:
    statements = ddl(tmp_path, "traffic", "--server-version", "24.8", "--cluster", "edge")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS traffic ON CLUSTER edge"
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    assert creates and all(" ON CLUSTER edge " in s for s in creates)
    assert any("LowCardinality(String)" in s for s in creates)
    assert any("ENGINE = Distributed(edge, traffic, traffic_1m_local" in s for s in creates)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--server-version", "new"], "MAJOR.MINOR"), (["--cluster", "a b"], "cluster name")],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    r = subprocess.run(
        [sys.executable, "-m", "trafficatlas", "clickhouse", "ddl", "-c", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr


def test_docs_cluster_ddl_is_the_commands_output(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "scale-out.md").read_text()
    block = doc.split("<!-- cluster-ddl:start -->\n```sql\n", 1)[1].split("\n```", 1)[0]
    cfg = tmp_path / "c.toml"
    cfg.write_text('[store.clickhouse]\ncluster = "traffic"\n')
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "trafficatlas",
            "clickhouse",
            "ddl",
            "--server-version",
            "24.8",
            "-c",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert block == out.rstrip("\n")  # regenerate the docs block when the schema changes
