"""Real ClickHouse engines for tests: Debian's clickhouse-server and chDB.

The server is started once per test session as this process's own child, with a configuration
written to a temporary folder: it listens on 127.0.0.1 only, on free ports, keeps its data in
that folder, and is killed by PID at the end (the system service is never used). Each test gets
its own database, dropped afterwards. chDB runs in-process on one folder per session.

Registered for the whole suite by ``pytest_plugins`` in tests/conftest.py, so the session
fixtures exist once however many folders use them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trafficatlas.store import MetadataStore, StoreSettings
from trafficatlas.store.clickhouse.chdb_conn import ChdbConnection
from trafficatlas.store.clickhouse.conn import DriverConnection
from trafficatlas.store.clickhouse.store import ClickHouseStore

from support.chserver import CLUSTER, ClickHouseServer, free_port, server_binary

__all__ = ["CLUSTER", "ClickHouseServer", "StoreFactory", "free_port", "store_factory"]


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """Debian's clickhouse-server (18.16) on a free loopback port, for the whole session."""
    binary = server_binary()
    if binary is None:
        if os.geteuid() == 0:
            pytest.fail("clickhouse-server is missing: run scripts/bootstrap.sh (installs it)")
        pytest.skip("clickhouse-server is not installed and installing it needs root")
    server = ClickHouseServer.start(binary, tmp_path_factory.mktemp("clickhouse-server"))
    try:
        yield server
    finally:
        server.stop()


_chdb_keeper: list[ChdbConnection] = []


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder of the in-process chDB engine (one per process, as chDB requires).

    A connection is held for the whole session: chDB shuts its engine down whenever the last
    connection closes, and starting it again for every test would cost a second each.
    """
    path = tmp_path_factory.mktemp("chdb")
    keeper = ChdbConnection(path)
    _chdb_keeper.append(keeper)
    try:
        yield path
    finally:
        _chdb_keeper.remove(keeper)
        keeper.close()


_names = itertools.count(1)


def unique_database() -> str:
    return f"t{os.getpid()}_{next(_names)}"


StoreFactory = Callable[..., ClickHouseStore]


def store_factory(request: pytest.FixtureRequest, backend: str) -> StoreFactory:
    """A function opening fresh ClickHouse stores (own database each) on ``backend``.

    ``backend`` is "clickhouse" (the Debian server) or "chdb". Call it with the StoreSettings
    (the clickhouse section is filled in) and optionally a metadata store. Databases are dropped
    when the test ends. chDB stores get no TTL: test data lies at fixed dates.
    """
    if backend == "clickhouse":
        server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
    else:
        path: Path = request.getfixturevalue("chdb_path")

    def open_store(
        settings: StoreSettings | None = None,
        metadata: MetadataStore | None = None,
        *,
        database: str | None = None,
        node_id: str = "test-node",
        ttl: bool = False,
    ) -> ClickHouseStore:
        fresh = database is None
        db = database or unique_database()
        base = settings or StoreSettings()
        ch = base.clickhouse.model_copy(update={"database": db, "node_id": node_id})
        if backend == "clickhouse":
            ch = ch.model_copy(update={"port": server.port, "host": "127.0.0.1"})
        s = base.model_copy(update={"clickhouse": ch})
        if backend == "clickhouse":
            if fresh:
                server.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
                request.addfinalizer(lambda: server.execute(f"DROP DATABASE IF EXISTS {db}"))
            store = ClickHouseStore(s, lambda: DriverConnection(ch, db), metadata)
        else:
            if fresh:
                request.addfinalizer(lambda: _drop_chdb(path, db))
            store = ClickHouseStore.in_process(path, s, metadata, ttl=ttl)
        request.addfinalizer(store.close)
        return store

    return open_store


def _drop_chdb(path: Path, database: str) -> None:
    _chdb_keeper[-1].execute(f"DROP DATABASE IF EXISTS {database} SYNC")
