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


def feed(api: LiveApi, dst: str, nbytes: int, src: str = "192.168.1.20") -> None:
    """One flow from ``src`` (a LAN host) to ``dst`` through classify, enrich, aggregate and
    the live view."""
    sv, shi, slo = parse_ip(src)
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
        assert msg["totals"] == {
            "total_bytes": 12_345,
            "tx_bytes": 12_345,
            "rx_bytes": 0,
            "packets": 10,
            "flows": 1,
        }
        assert [c["code"] for c in msg["countries"]] == ["US"]  # type: ignore[attr-defined]
        # a peer token sees only its peer: this flow belongs to no peer
        own = first_message(a, {"Authorization": f"Bearer {a.tokens['peer']}"})
        assert own["totals"]["total_bytes"] == 0  # type: ignore[index]
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


def test_live_feed_splits_by_network_and_direction(fresh_api) -> None:  # type: ignore[no-untyped-def]
    """Rows by remote AS and country with organization, sent and received bytes apart."""
    with fresh_api(seed=False, api={"live_interval_s": 0.2}) as a:
        feed(a, "8.8.8.8", 1_000)  # out to Google
        feed(a, "192.168.1.20", 5_000, src="8.8.4.4")  # in from Google
        feed(a, "193.246.8.17", 700)  # out to Swisscom
        msg = first_message(a, {"Authorization": f"Bearer {a.tokens['viewer']}"})
        totals = msg["totals"]
        assert (totals["total_bytes"], totals["tx_bytes"], totals["rx_bytes"]) == (
            6_700,
            1_700,
            5_000,
        )  # type: ignore[index]
        asns = {r["asn"]: r for r in msg["asns"]}  # type: ignore[attr-defined]
        assert set(asns) == {15169, 3303}
        google, swisscom = asns[15169], asns[3303]
        assert google["organization"] == "Google LLC"
        assert (google["country"], google["country_name"]) == ("US", "United States")
        assert (google["tx_bytes"], google["rx_bytes"], google["total_bytes"]) == (
            1_000,
            5_000,
            6_000,
        )
        assert google["flows"] == 2
        assert swisscom["organization"].startswith("Swisscom") and swisscom["country"] == "CH"
        assert (swisscom["tx_bytes"], swisscom["rx_bytes"]) == (700, 0)
        assert [r["asn"] for r in msg["asns"]] == [15169, 3303]  # type: ignore[attr-defined]  # most bytes first
        us = next(c for c in msg["countries"] if c["code"] == "US")  # type: ignore[attr-defined]
        assert (us["tx_bytes"], us["rx_bytes"]) == (1_000, 5_000)
