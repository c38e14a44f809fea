"""What each node serves over HTTP: an API node (no pipeline) answers data from the shared store
and says clearly that it has no live view; a collector answers only health and metrics, with its
spool backlog. Real uvicorn servers on 127.0.0.1."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as ws_client

from trafficatlas.api.app import create_app
from trafficatlas.api.collector_app import create_collector_app
from trafficatlas.auth.models import Scope
from trafficatlas.runtime import Runtime
from trafficatlas.sources.base import SourceBatch

from support.apiserver import ADMIN_PASSWORD, FAST_ARGON2, serve
from support.roles import SharedStore, batch, settings

pytestmark = pytest.mark.network


@pytest.fixture
def api_node(tmp_path: Path) -> Iterator[tuple[str, str, float]]:
    """An API node over a shared store a collector filled; (base URL, viewer token, now)."""
    shared = SharedStore(tmp_path / "shared.duckdb")
    now = time.time()
    collector = Runtime(settings(tmp_path, "collector"), store_opener=shared)
    collector.start()
    assert collector.pipeline is not None
    collector.pipeline.submit(SourceBatch("flowexport", batch(now)))
    collector.stop()
    rt = Runtime(settings(tmp_path, "api", auth=dict(FAST_ARGON2)), store_opener=shared)
    rt.start()
    try:
        app = create_app(rt, admin_password=ADMIN_PASSWORD, console=io.StringIO())
        token = app.state.ctx.auth.create_token("test", "viewer", Scope.READ)[0]
        with serve(app) as url:
            yield url, token, now
    finally:
        rt.stop()


def test_api_node_serves_the_shared_store(api_node: tuple[str, str, float]) -> None:
    url, token, now = api_node
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
        health = c.get("/api/health").json()
        assert health["role"] == "api" and health["status"] == "ok"
        assert health["queue_depth"] is None and "no live view" in health["pipeline"]
        r = c.get("/api/metrics/geo/countries", params={"since": int(now) - 3600})
        assert r.status_code == 200, r.text
        assert r.json()["totals"]["total_bytes"] == 1080
        metrics = c.get("/metrics").text
    assert "trafficatlas_store_up 1.0" in metrics
    assert "trafficatlas_pipeline_queue_depth" not in metrics  # no pipeline here
    assert "trafficatlas_spool_" not in metrics


def test_api_node_says_it_has_no_live_view(api_node: tuple[str, str, float]) -> None:
    url, token, _ = api_node
    ws_url = url.replace("http://", "ws://") + "/api/live"
    headers = {"Authorization": f"Bearer {token}"}
    with ws_client.connect(ws_url, additional_headers=headers, open_timeout=10) as ws:
        message = json.loads(ws.recv(timeout=10))
        assert message["type"] == "unavailable" and message["role"] == "api"
        assert "collectors" in message["detail"]
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # no empty snapshots pretending there is no traffic


def test_collector_serves_health_and_metrics_only(tmp_path: Path) -> None:
    shared = SharedStore(tmp_path / "shared.duckdb")
    shared.reachable = False
    rt = Runtime(settings(tmp_path, "collector"), store_opener=shared)
    rt.start()
    try:
        assert rt.pipeline is not None
        rt.pipeline.process(SourceBatch("flowexport", batch(time.time())))
        rt.pipeline.flush(force=True)
        app = create_collector_app(rt)
        with serve(app) as url, httpx.Client(base_url=url) as c:
            health = c.get("/api/health").json()
            assert health["role"] == "collector" and health["status"] == "degraded"
            assert health["spool"]["backlog_batches"] == 1
            assert health["spool"]["last_error"] == "StoreUnavailable"
            metrics = c.get("/metrics").text  # loopback: no token needed by default
            assert "trafficatlas_spool_backlog_batches 1.0" in metrics
            assert "trafficatlas_spool_spooled_batches_total 1.0" in metrics
            assert "trafficatlas_spool_dropped_batches_total 0.0" in metrics
            assert "trafficatlas_store_reachable 0.0" in metrics
            assert 'trafficatlas_spool_last_error_info{kind="StoreUnavailable"} 1.0' in metrics
            assert "trafficatlas_pipeline_flushes_total" in metrics
            assert "geoip_bytes_" not in metrics  # the API nodes export the store's totals
            root = c.get("/")
            assert root.status_code == 200 and "collector" in root.json()["detail"]
            assert c.get("/api/metrics/geo/countries").status_code == 404
            assert c.get("/api/live").status_code == 404
    finally:
        rt.stop()


def test_collector_metrics_follow_metrics_auth(tmp_path: Path) -> None:
    s = settings(tmp_path, "collector", api={"metrics_auth": "required"})
    rt = Runtime(s, store_opener=SharedStore(tmp_path / "shared.duckdb"))
    rt.start()
    try:
        with serve(create_collector_app(rt)) as url, httpx.Client(base_url=url) as c:
            assert c.get("/metrics").status_code == 401
            assert c.get("/api/health").status_code == 200  # health never needs credentials
    finally:
        rt.stop()
