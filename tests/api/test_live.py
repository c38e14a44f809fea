"""WebSocket /api/live: pushes the live view fed by the real pipeline; auth by token or cookie
(same origin only); a peer credential sees only its own peer."""

from __future__ import annotations

import json
import time

import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.net import parse_ip
from trafficatlas.sources.base import SourceBatch

from support.apiserver import VIEWER_PASSWORD, LiveApi

pytestmark = pytest.mark.network


def feed(api: LiveApi, dst: str, nbytes: int) -> None:
    """One flow from a LAN host to ``dst`` through classify, enrich, aggregate and live view."""
    sv, shi, slo = parse_ip("192.168.1.20")
    _, dhi, dlo = parse_ip(dst)
    batch = FlowBatch.from_columns(
        1,
        ts=time.time(),
        ip_version=sv,
        proto=6,
        src_hi=shi,
        src_lo=slo,
        dst_hi=dhi,
        dst_lo=dlo,
        sport=40000,
        dport=443,
        bytes=nbytes,
        packets=10,
    )
    assert api.runtime.pipeline is not None
    api.runtime.pipeline.process(SourceBatch("test", batch))


def first_message(api: LiveApi, headers: dict[str, str], query: str = "") -> dict[str, object]:
    url = api.base_url.replace("http://", "ws://") + "/api/live" + query
    with ws_client.connect(url, additional_headers=headers, open_timeout=10) as ws:
        message: dict[str, object] = json.loads(ws.recv(timeout=10))
    return message


def test_live_feed_pushes_the_live_view(fresh_api) -> None:  # type: ignore[no-untyped-def]
    with fresh_api(seed=False, api={"live_interval_s": 0.2}) as a:
        feed(a, "8.8.8.8", 12_345)
        msg = first_message(a, {"Authorization": f"Bearer {a.tokens['viewer']}"})
        assert msg["type"] == "live"
        assert msg["totals"] == {"total_bytes": 12_345, "packets": 10, "flows": 1}
        assert [c["code"] for c in msg["countries"]] == ["US"]  # type: ignore[attr-defined]
        # a peer token sees only its peer: this flow belongs to no peer
        own = first_message(a, {"Authorization": f"Bearer {a.tokens['peer']}"})
        assert own["totals"] == {"total_bytes": 0, "packets": 0, "flows": 0}
        # a session cookie works from the same origin, not from another site
        with a.client() as c:
            c.post("/api/auth/login", json={"username": "viewer", "password": VIEWER_PASSWORD})
            cookie = f"trafficatlas_session={c.cookies['trafficatlas_session']}"
        host = a.base_url.removeprefix("http://")
        same = first_message(a, {"Cookie": cookie, "Origin": f"http://{host}"})
        assert same["totals"]["total_bytes"] == 12_345  # type: ignore[index]
        with pytest.raises(InvalidStatus) as refused:
            first_message(a, {"Cookie": cookie, "Origin": "http://evil.example"})
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as anonymous:
            first_message(a, {})
        assert anonymous.value.response.status_code == 401
