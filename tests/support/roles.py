"""Helpers of the role tests: settings per role, a "shared" store that can be down, a batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.net import parse_ip
from trafficatlas.query import top
from trafficatlas.settings import Settings, load_settings
from trafficatlas.store import Store, StoreSettings
from trafficatlas.store.duckdb_store import DuckDBStore
from trafficatlas.store.errors import StoreUnavailable
from trafficatlas.store.metadata import MetadataStore

from support.flakystore import FlakyStore
from support.mmdb_fixtures import write_geo_db

DOC = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]


def settings(tmp_path: Path, role: str, engine: str = "clickhouse", **extra: Any) -> Settings:
    """Settings of a node in ``tmp_path``: a small GeoIP database, one local network."""
    db = tmp_path / "geo.mmdb"
    if not db.exists():
        write_geo_db(db, "maxmind")
    return load_settings(
        None,
        data_dir=str(tmp_path / "data"),
        role=role,
        geoip={"use_bundled": False, "databases": [{"path": str(db)}], "lookup_reserved": DOC},
        classify={"local_networks": [{"cidr": "10.8.0.0/24", "label": "vpn"}]},
        store={"engine": engine, "spool": {"retry_s": 0.05}},
        **extra,
    )


def batch(now: float) -> FlowBatch:
    """Two flows from the VPN: 1000 bytes to DE (192.0.2.1), 80 to US (198.51.100.7)."""
    src = parse_ip("10.8.0.2")
    dst = [parse_ip("192.0.2.1"), parse_ip("198.51.100.7")]
    return FlowBatch.from_columns(
        2,
        ts=now,
        ts_start=now,
        ip_version=4,
        src_lo=src[2],
        dst_lo=[d[2] for d in dst],
        sport=40000,
        dport=[443, 53],
        proto=6,
        bytes=[1000, 80],
        packets=1,
    )


class SharedStore:
    """Opens the "shared" store (a DuckDB file) as a ClickHouse opener would; down on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reachable = True
        self.opened: list[FlakyStore] = []

    def __call__(self) -> Store:
        if not self.reachable:
            raise StoreUnavailable("connection refused (test)")
        metadata = MetadataStore(self.path.with_suffix(".sqlite3"))
        store = FlakyStore(DuckDBStore(StoreSettings(), self.path, metadata, owns_metadata=True))
        self.opened.append(store)
        return store


def wait_for(cond: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def total_bytes(store: Store, now: float) -> int:
    return top(store, ["country"], since=now - 3600, until=now + 120).totals.bytes
