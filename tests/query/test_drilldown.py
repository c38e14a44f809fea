"""Drill-down into raw flow records (flow detail on), and the typed error when it is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from trafficatlas.query import Filters, FlowDetailDisabledError, QueryError, drilldown
from trafficatlas.store import FlowRecords

from support.storedata import BASE, HOUR, open_store


def _flows() -> FlowRecords:
    return FlowRecords.build(
        5,
        ts=[BASE + 10, BASE + 20, BASE + 30, BASE + 40, BASE + 4000],
        peer="alice",
        direction=1,
        country=["CH", "CH", "CH", "DE", "CH"],
        asn=[3303, 3303, 13030, 3320, 3303],
        local_addr="10.8.0.2",
        remote_addr=["195.186.1.1", "195.186.1.1", "91.198.1.1", "80.1.1.1", "195.186.1.1"],
        remote_port=[443, 443, 53, 443, 443],
        bytes=[100, 50, 7, 1000, 9],
        packets=1,
    )


def test_drilldown_from_a_country_to_remote_addresses(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb", flow_detail={"enabled": True}) as store:
        assert store.write_flows(_flows()) == 5
        res = drilldown(store, filters=Filters(country=["CH"]), since=BASE, until=BASE + HOUR)
        assert [(r.key, r.bytes, r.flows) for r in res.rows] == [
            ({"remote_addr": "195.186.1.1", "remote_port": 443}, 150, 2),
            ({"remote_addr": "91.198.1.1", "remote_port": 53}, 7, 1),
        ]
        assert res.since == BASE and res.until == BASE + HOUR  # raw records: exact seconds
        by_asn = drilldown(store, ["remote_addr"], Filters(asn=[3303]), 1, BASE, BASE + 2 * HOUR)
        assert by_asn.rows[0].bytes == 159 and by_asn.other is None and by_asn.groups == 1
        limited = drilldown(store, ["remote_port"], Filters(), 1, BASE, BASE + 2 * HOUR)
        assert limited.rows[0].key == {"remote_port": 443} and limited.other is not None


def test_drilldown_is_clamped_to_flow_retention(tmp_path: Path) -> None:
    settings = {"flow_detail": {"enabled": True, "retention": "1h"}}
    with open_store(tmp_path / "s.duckdb", **settings) as store:
        store.write_flows(_flows())
        store.run_maintenance(now=BASE + HOUR + 35)
        res = drilldown(store, since=BASE, until=BASE + 2 * HOUR)
        assert res.since == BASE + 35 and res.requested_since == BASE
        assert res.totals.bytes == 1009


def test_drilldown_when_flow_detail_is_off(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(FlowDetailDisabledError, match=r"flow_detail\.enabled") as err:
            drilldown(store, since=BASE, until=BASE + HOUR)
        assert isinstance(err.value, QueryError)
