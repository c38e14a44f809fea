"""PeerStates: latest handshake and endpoint per peer, located by the real GeoIP engine."""

from __future__ import annotations

import pytest

from trafficatlas.enrich.engine import GeoIP
from trafficatlas.peerstate import PeerEndpoint, PeerStates
from trafficatlas.settings import Settings
from trafficatlas.sources.wireguard import PeerInfo


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> GeoIP:
    return GeoIP.from_settings(Settings(data_dir=tmp_path_factory.mktemp("geo")))


def info(key: str, handshake: float | None, address: str | None, **kw: object) -> PeerInfo:
    values: dict[str, object] = {
        "public_key": key,
        "peer_id": 1,
        "name": "",
        "private": False,
        "interface": "wg0",
        "endpoint": f"{address}:51820" if address else None,
        "endpoint_address": address,
        "allowed_ips": [],
        "latest_handshake": handshake,
        "keepalive_s": 0,
        "rx_bytes": 0,
        "tx_bytes": 0,
        "counted_rx_bytes": 0,
        "counted_tx_bytes": 0,
    }
    values.update(kw)
    return PeerInfo(**values)  # type: ignore[arg-type]


def test_endpoints_are_located_in_one_batch(geo: GeoIP) -> None:
    states = PeerStates()
    states.report("a", 100.0, "193.246.8.17")
    states.report("b", 0, "2a02:1210::1")  # WireGuard's 0: never shook hands
    states.report("c", 50.0, None)
    states.report("d", 60.0, "10.0.0.7")  # a LAN endpoint: reserved, never geolocated
    snap = states.snapshot(geo)
    assert snap["a"].latest_handshake == 100.0
    assert snap["a"].endpoint == PeerEndpoint(
        "193.246.8.17", "CH", None, None, None, 3303, "Swisscom (Schweiz) AG"
    )
    assert snap["b"].latest_handshake is None
    assert snap["b"].endpoint is not None and snap["b"].endpoint.country == "CH"
    assert snap["c"].endpoint is None
    d = snap["d"].endpoint
    assert d is not None and (d.address, d.country, d.asn) == ("10.0.0.7", None, None)


def test_private_peers_endpoints_are_never_kept(geo: GeoIP) -> None:
    states = PeerStates()
    states.report("p", 10.0, "8.8.8.8", private=True)
    assert states.snapshot(geo)["p"].endpoint is None
    assert states.snapshot(geo)["p"].latest_handshake == 10.0
    states.forget("p")
    assert len(states) == 0 and states.snapshot(geo) == {}


def test_wireguard_listing_keeps_the_latest_handshake_per_key(geo: GeoIP) -> None:
    states = PeerStates()
    states.report_wireguard(
        [
            info("K1", 100.0, "198.51.100.2", interface="wg0"),
            info("K1", 300.0, "8.8.8.8", interface="wg1"),  # the same peer on a second interface
            info("K2", None, None),
            info("K3", 5.0, "8.8.4.4", private=True),
        ]
    )
    snap = states.snapshot(geo)
    assert snap["K1"].latest_handshake == 300.0
    assert snap["K1"].endpoint is not None and snap["K1"].endpoint.asn == 15169
    assert snap["K2"].latest_handshake is None and snap["K2"].endpoint is None
    assert snap["K3"].endpoint is None


def test_without_an_engine_or_with_a_bad_address(geo: GeoIP) -> None:
    states = PeerStates()
    states.report("a", 1.0, "198.51.100.9")
    states.report("bad", 1.0, "not-an-address")
    bare = states.snapshot(None)  # the engine is not loaded yet: the address alone
    assert bare["a"].endpoint == PeerEndpoint("198.51.100.9", None, None, None, None, None, None)
    located = states.snapshot(geo)
    assert located["bad"].endpoint is None and bare["bad"].endpoint is None  # dropped, no error
    assert located["bad"].latest_handshake == 1.0
    assert located["a"].endpoint is not None
