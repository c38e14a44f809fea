"""Fixtures: a small hand-written dataset in a real DuckDB store with a metadata store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store import MetadataStore, StoreSettings
from trafficatlas.store.duckdb_store import DuckDBStore

from support.storedata import BASE

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
def hand_store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """The HAND rows written twice: half in minute 0, half in minute 1 of BASE."""
    meta = MetadataStore(tmp_path / "meta.sqlite3")
    meta.set_peer("alice", name="Alice's laptop")
    settings = StoreSettings(flow_detail={"enabled": True})  # type: ignore[arg-type]
    with DuckDBStore(settings, tmp_path / "s.duckdb", meta) as store:
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
