"""The runtime wired from settings: real DuckDB store, flow detail opt-in, graceful stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.net import parse_ip
from trafficatlas.query import Filters, drilldown, top
from trafficatlas.query.errors import FlowDetailDisabledError
from trafficatlas.runtime import Runtime
from trafficatlas.settings import load_settings
from trafficatlas.sources.base import SourceBatch

from support.mmdb_fixtures import write_geo_db

DOC = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]


def batch(now: float) -> FlowBatch:
    rows = [
        ("10.8.0.2", 40000, "192.0.2.1", 443, 1000),
        ("10.8.0.2", 40001, "198.51.100.7", 53, 80),
    ]
    src = [parse_ip(r[0]) for r in rows]
    dst = [parse_ip(r[2]) for r in rows]
    return FlowBatch.from_columns(
        len(rows),
        ts=now,
        ts_start=now,
        ip_version=[s[0] for s in src],
        src_lo=[s[2] for s in src],
        dst_lo=[d[2] for d in dst],
        sport=[r[1] for r in rows],
        dport=[r[3] for r in rows],
        proto=6,
        bytes=[r[4] for r in rows],
        packets=1,
    )


def runtime(tmp_path: Path, detail: bool) -> Runtime:
    db = tmp_path / "geo.mmdb"
    write_geo_db(db, "maxmind")
    settings = load_settings(
        None,
        data_dir=str(tmp_path / "data"),
        geoip={"use_bundled": False, "databases": [{"path": str(db)}], "lookup_reserved": DOC},
        classify={"local_networks": [{"cidr": "10.8.0.0/24", "label": "vpn"}]},
        store={"flow_detail": {"enabled": detail}},
    )
    rt = Runtime(settings)
    rt.start()
    return rt


def test_flow_detail_keeps_addresses_when_enabled(tmp_path: Path) -> None:
    rt = runtime(tmp_path, detail=True)
    now = time.time()
    try:
        assert rt.pipeline is not None
        rt.pipeline.process(SourceBatch("flowexport", batch(now)))
        rt.pipeline.flush(force=True)
        store = rt.require_store()
        result = drilldown(
            store,
            ["remote_addr", "remote_port"],
            Filters(country=["DE"]),
            since=now - 3600,
            until=now + 60,
        )
        keys = [(r.key["remote_addr"], r.key["remote_port"], r.bytes) for r in result.rows]
        assert keys == [("192.0.2.1", 443, 1000)]
        by_country = top(store, ["country"], since=now - 3600, until=now + 60)
        assert {r.key["country"]: r.bytes for r in by_country.rows} == {"DE": 1000, "US": 80}
    finally:
        rt.stop()


def test_no_addresses_stored_by_default(tmp_path: Path) -> None:
    rt = runtime(tmp_path, detail=False)
    now = time.time()
    try:
        assert rt.pipeline is not None
        rt.pipeline.process(SourceBatch("flowexport", batch(now)))
        rt.pipeline.flush(force=True)
        store = rt.require_store()
        with pytest.raises(FlowDetailDisabledError):
            drilldown(store, since=now - 3600, until=now + 60)
    finally:
        rt.stop()
    # nothing in the store file looks like an address of the flows
    raw = (tmp_path / "data" / "trafficatlas.duckdb").read_bytes()
    for text in (b"10.8.0.2", b"192.0.2.1", b"198.51.100.7"):
        assert text not in raw


def test_graceful_stop_flushes_open_buckets(tmp_path: Path) -> None:
    rt = runtime(tmp_path, detail=False)
    now = time.time()
    assert rt.pipeline is not None
    rt.pipeline.submit(SourceBatch("flowexport", batch(now)))  # the current, still open minute
    rt.stop()
    rt2 = runtime(tmp_path, detail=False)
    try:
        result = top(rt2.require_store(), ["country"], since=now - 3600, until=now + 120)
        assert result.totals.bytes == 1080
    finally:
        rt2.stop()
