"""Fixtures: a small hand-written dataset in a real store with a metadata store.

Tests that read a store run once per engine — DuckDB, Debian's ClickHouse server (18.16) and
chDB (the current ClickHouse engine) — with unchanged bodies: ``store_backend`` installs the
engine's store factory behind ``support.storedata.open_store`` and ``hand_store``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store import MetadataStore, StoreSettings
from trafficatlas.store.duckdb_store import DuckDBStore

from support import storedata
from support.clickhouse import store_factory
from support.storedata import BASE

BACKENDS = ("duckdb", "clickhouse", "chdb")
# Not run per engine: pure planning, and the DuckDB-specific dialect seam (other placeholder
# styles and an SQLite copy of a DuckDB store).
SINGLE_ENGINE_MODULES = {"test_plan.py", "test_dialect.py"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if Path(metafunc.definition.path).name not in SINGLE_ENGINE_MODULES:
        metafunc.parametrize("store_backend", BACKENDS, indirect=True)


@pytest.fixture(autouse=True)
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine this test runs on ("duckdb" unless parametrized)."""
    backend: str = getattr(request, "param", "duckdb")
    if backend == "duckdb":
        yield backend
        return
    factory = store_factory(request, backend)
    storedata.STORE_FACTORIES.append(lambda settings: factory(settings))
    try:
        yield backend
    finally:
        storedata.STORE_FACTORIES.pop()


# peer, direction, country, label, city, asn, bytes, packets, flows, interface, ip_version, proto
HAND = [
    ("alice", 1, "CH", "", "Zurich", 3303, 100, 10, 1, "wg0", 4, 6),
    ("alice", 2, "CH", "", "Zurich", 3303, 50, 5, 1, "wg0", 4, 6),
    ("alice", 1, "DE", "", "Berlin", 3320, 30, 3, 1, "wg0", 6, 17),
    ("bob", 1, "US", "", "", 15169, 200, 20, 2, "wg1", 4, 6),
    ("bob", 2, "DE", "", "", 3320, 30, 40, 1, "wg1", 4, 17),
    ("bob", 3, "", "LOCAL", "", 0, 5, 1, 1, "wg1", 4, 6),
]


def hand_rows(ts: int) -> AggregateRows:
    cols = list(zip(*HAND, strict=True))
    names = [
        "peer",
        "direction",
        "country",
        "label",
        "city",
        "asn",
        "bytes",
        "packets",
        "flows",
        "interface",
        "ip_version",
        "proto",
    ]
    return AggregateRows.build(
        len(HAND),
        ts=ts,
        source="wireguard",
        **dict(zip(names, cols, strict=True)),
        as_orgs={3303: "Swisscom", 3320: "Deutsche Telekom", 15169: "Google"},
        cities={("CH", "Zurich"): (47.37, 8.54), ("DE", "Berlin"): (52.52, 13.40)},
    )


@pytest.fixture
def hand_store(tmp_path: Path, request: pytest.FixtureRequest, store_backend: str) -> Iterator[Any]:
    """The HAND rows written twice: half in minute 0, half in minute 1 of BASE."""
    meta = MetadataStore(tmp_path / "meta.sqlite3")
    meta.set_peer("alice", name="Alice's laptop")
    settings = StoreSettings(flow_detail={"enabled": True})  # type: ignore[arg-type]
    if store_backend == "duckdb":
        opened: Any = DuckDBStore(settings, tmp_path / "s.duckdb", meta)
    else:
        opened = store_factory(request, store_backend)(settings, meta)
    with opened as store:
        rows = hand_rows(BASE)
        half = AggregateRows.build(
            len(HAND),
            ts=BASE + 60,
            **{n: getattr(rows, n) for n in AggregateRows.DTYPES if n != "ts"},
        )
        for name in ("bytes", "packets", "flows"):
            full = getattr(rows, name)
            setattr(half, name, full // 2)
            setattr(rows, name, full - full // 2)
        store.write(rows)
        store.write(half)
        yield store
    meta.close()
