"""Prometheus /metrics: geoip-exporter names computed from the store (monotonic across a
restart), bounded label sets, component health, help text, and who may scrape."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.apiserver import LiveApi, live_api
from support.storedata import random_rows

pytestmark = pytest.mark.network


def scrape(
    api: LiveApi, token: str | None = None
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with api.client(token) as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(r.text):
        assert fam.documentation.strip(), f"{fam.name} has no help text"
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_metrics_access_and_geoip_names(api: LiveApi) -> None:
    with api.client() as c:
        assert c.get("/metrics").status_code == 401  # this server: api.metrics_auth = required
    with api.client(api.tokens["peer"]) as c:
        assert c.get("/metrics").status_code == 403
    m = scrape(api, api.tokens["viewer"])
    rx = m["geoip_bytes_received_total"]
    tx = m["geoip_bytes_sent_total"]
    key = (("country", "CH"), ("interface", "wg0"), ("ip_version", "4"))
    assert (
        rx[key]
        == api.expected(direction=2, country="CH", interface="wg0", ip_version=4)["total_bytes"]
    )
    assert (
        tx[key]
        == api.expected(direction=1, country="CH", interface="wg0", ip_version=4)["total_bytes"]
    )
    assert (("country", "UNKNOWN"), ("interface", "wg1"), ("ip_version", "6")) in rx
    assert sum(rx.values()) >= api.expected(direction=2)["total_bytes"]  # + later test writes
    peers = m["trafficatlas_peer_bytes_total"]
    assert {dict(k)["peer"] for k in peers} >= {"peer-a", "peer-b", "peer-c"}
    assert m["trafficatlas_asn_info"][(("asn", "13335"), ("organization", "Cloudflare"))] == 1
    for name in (
        "trafficatlas_pipeline_queue_depth",
        "trafficatlas_pipeline_dropped_batches_total",
        "trafficatlas_store_flush_lag_seconds",
        "trafficatlas_store_rollup_lag_seconds",
        "trafficatlas_geoip_database_age_seconds",
        "trafficatlas_build_info",
        "trafficatlas_api_cache_hits_total",
    ):
        assert name in m, name
    # never an address as a label value
    labels = {v for series in m.values() for key in series for _, v in key}
    assert not any(v.count(".") == 3 or v.count(":") >= 2 for v in labels)


def test_label_sets_are_bounded(fresh_api) -> None:  # type: ignore[no-untyped-def]
    api_settings = {"metrics_auth": "none", "metrics_top_peers": 1, "metrics_top_asns": 2}
    with fresh_api(api=api_settings) as a:
        m = scrape(a)
    peers = {dict(k)["peer"] for k in m["trafficatlas_peer_bytes_total"]}
    asns = {dict(k)["asn"] for k in m["trafficatlas_asn_bytes_total"]}
    assert len(peers) == 2 and "other" in peers
    assert len(asns) == 3 and "other" in asns
    total = sum(m["trafficatlas_peer_bytes_total"].values())
    assert total == a.expected()["total_bytes"] == sum(m["trafficatlas_asn_bytes_total"].values())


def test_counters_are_monotonic_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "restart"
    settings = {"api": {"metrics_auth": "none"}}
    with live_api(data, **settings) as a:
        first = scrape(a)
    with live_api(data, seed=False, **settings) as b:
        again = scrape(b)
        now = int(time.time())
        extra = random_rows(np.random.default_rng(3), now - now % 60 - 60, 1, 4)
        b.runtime.require_store().write(extra)
        after = scrape(b)
    for name in ("geoip_bytes_received_total", "geoip_bytes_sent_total"):
        assert again[name] == first[name]  # a restart loses nothing
        for key, value in first[name].items():
            assert after[name].get(key, 0) >= value
    grown = sum(after["trafficatlas_traffic_bytes_total"].values())
    assert grown == sum(first["trafficatlas_traffic_bytes_total"].values()) + int(extra.bytes.sum())


def test_localhost_scrapes_without_credentials(fresh_api) -> None:  # type: ignore[no-untyped-def]
    collector = {"enabled": True, "listen": [{"port": 0, "host": "127.0.0.1"}]}
    with fresh_api(seed=False, collector=collector) as a:
        port = a.runtime.sources[0].ports[0]  # type: ignore[attr-defined]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00\x09garbage", ("127.0.0.1", port))  # counted as a decode error
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = scrape(a)  # from 127.0.0.1: no credentials needed by default
            errors = m.get("trafficatlas_source_decode_errors_total", {})
            if errors:
                break
            time.sleep(0.1)
        assert sum(errors.values()) >= 1
        assert m["trafficatlas_source_datagrams_total"][(("source", "flowexport"),)] >= 1
        # a request a proxy on this host forwards from outside is not local
        with a.client(headers={"X-Forwarded-For": "203.0.113.9"}) as c:
            assert c.get("/metrics").status_code == 401
        with a.client(a.tokens["viewer"], headers={"X-Forwarded-For": "203.0.113.9"}) as c:
            assert c.get("/metrics").status_code == 200


def test_grafana_dashboard_uses_served_metric_names(api: LiveApi) -> None:
    import json
    import re

    from trafficatlas.metrics.health import SOURCE_COUNTERS, SOURCE_GAUGES

    dashboard = json.loads(
        (Path(__file__).parents[2] / "deploy" / "grafana" / "trafficatlas.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {n for e in exprs for n in re.findall(r"\b((?:geoip|trafficatlas)_\w+)", e)}
    served = set(scrape(api, api.tokens["viewer"]))
    # per-source families appear once a source reports them (none run in this test server)
    source_families = (
        {f"trafficatlas_source_{k}" for k in SOURCE_GAUGES}
        | {f"trafficatlas_source_{k}_total" for k in SOURCE_COUNTERS}
        | {"trafficatlas_source_decode_errors_total"}
    )
    assert used, "the dashboard queries nothing"
    assert used <= served | source_families, used - served - source_families
