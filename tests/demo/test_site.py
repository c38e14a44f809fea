"""The demo peers' endpoints (real ISPs' addresses) and handshakes."""

from __future__ import annotations

import pytest

from trafficatlas.demo.site import (
    ENDPOINT_ASNS,
    HANDSHAKE_EVERY_S,
    PEER_NAMES,
    endpoint_addresses,
    peer_id,
    report_peer_state,
)
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.peerstate import PeerStates
from trafficatlas.settings import Settings


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> GeoIP:
    return GeoIP.from_settings(Settings(data_dir=tmp_path_factory.mktemp("geo")))


def test_every_peer_connects_from_its_isp(geo: GeoIP) -> None:
    peers = len(PEER_NAMES)
    endpoints = endpoint_addresses(peers)
    assert list(endpoints) == [peer_id(i) for i in range(peers)]
    assert len(set(endpoints.values())) == peers
    assert endpoint_addresses(peers) == endpoints  # the same on every run
    rows = geo.lookup_ips(list(endpoints.values()))
    assert [r["asn"] for r in rows] == list(ENDPOINT_ASNS[:peers])
    assert all(r["country"] and r["label"] is None for r in rows)  # public, geolocated
    assert len({r["country"] for r in rows}) >= 8  # spread over the world map


def test_handshakes_are_recent_and_staggered(geo: GeoIP) -> None:
    states = PeerStates()
    endpoints = endpoint_addresses(4)
    now = 1_800_000_000.0
    report_peer_state(states, endpoints, now)
    snap = states.snapshot(geo)
    times = [snap[pid].latest_handshake for pid in endpoints]
    assert all(t is not None and now - HANDSHAKE_EVERY_S < t <= now for t in times)
    assert len(set(times)) == 4
    report_peer_state(states, endpoints, now + HANDSHAKE_EVERY_S)
    later = states.snapshot(geo)
    assert [later[pid].latest_handshake for pid in endpoints] == [
        t + HANDSHAKE_EVERY_S for t in times if t is not None
    ]
    first = later[peer_id(0)].endpoint
    assert first is not None and first.country == "CH"
