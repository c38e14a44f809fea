"""Peers' last handshake and endpoint location in the peers, peer and map routes.

A `wg` stand-in script prints a real `wg show all dump` listing, so the state comes through the
WireGuard source and the runtime like on a VPN server. Privacy: no endpoint for private peers,
no endpoint address unless flow detail is on.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from support.apiserver import LiveApi

pytestmark = pytest.mark.network

LAPTOP = base64.b64encode(bytes([1]) * 32).decode()
HIDDEN = base64.b64encode(bytes([2]) * 32).decode()
HANDSHAKE = 1_795_309_059
SWISSCOM = "193.246.8.17"  # AS3303 in the bundled tables, Switzerland


def fake_wg(tmp: Path) -> Path:
    """A `wg` that lists one interface and two peers, the second of them private."""
    dump = tmp / "dump.txt"
    server = base64.b64encode(bytes([200]) * 32).decode()
    public = base64.b64encode(bytes([100]) * 32).decode()
    dump.write_text(
        f"wg0\t{server}\t{public}\t51820\toff\n"
        f"wg0\t{LAPTOP}\t(none)\t{SWISSCOM}:40000\t10.99.0.2/32\t{HANDSHAKE}\t100\t200\toff\n"
        f"wg0\t{HIDDEN}\t(none)\t8.8.8.8:51820\t10.99.0.3/32\t{HANDSHAKE + 5}\t300\t400\toff\n"
    )
    command = tmp / "wg"
    command.write_text(f'#!/bin/sh\ncat "{dump}"\n')
    command.chmod(command.stat().st_mode | stat.S_IXUSR)
    return command


def wireguard(tmp: Path) -> dict[str, Any]:
    return {
        "enabled": True,
        "wg_command": str(fake_wg(tmp)),
        "poll_interval_s": 3600,
        "peers": [
            {"public_key": LAPTOP, "name": "laptop"},
            {"public_key": HIDDEN, "name": "hidden", "private": True},
        ],
    }


def rows_by_id(api: LiveApi, token: str, **params: Any) -> dict[str, Any]:
    with api.client(token) as c:
        r = c.get("/api/metrics/peers", params={"since": "24h", **params})
    assert r.status_code == 200, r.text
    return {row["id"]: row for row in r.json()["rows"]}


def test_wireguard_peers_show_last_handshake_and_located_endpoint(fresh_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with fresh_api(seed=False, wireguard=wireguard(tmp_path)) as a:
        rows = rows_by_id(a, a.tokens["viewer"])
        laptop, hidden = rows[LAPTOP], rows[HIDDEN]
        assert laptop["name"] == "laptop" and laptop["last_handshake"] == HANDSHAKE
        assert laptop["endpoint"] == {
            "address": SWISSCOM,  # this server has flow detail on
            "country": "CH",
            "country_name": "Switzerland",
            "city": None,  # the bundled tables have countries only
            "latitude": None,
            "longitude": None,
            "asn": 3303,
            "organization": "Swisscom (Schweiz) AG",
        }
        # a private peer: its handshake shows, where it connects from does not
        assert hidden["private"] is True and hidden["last_handshake"] == HANDSHAKE + 5
        assert hidden["endpoint"] is None

        with a.client(a.tokens["viewer"]) as c:
            page = c.get(f"/api/metrics/peers/{LAPTOP}/geo", params={"since": "24h"}).json()
            secret = c.get(f"/api/metrics/peers/{HIDDEN}/geo", params={"since": "24h"}).json()
        assert page["peer"]["name"] == "laptop" and page["last_handshake"] == HANDSHAKE
        assert page["endpoint"] == laptop["endpoint"]
        assert secret["endpoint"] is None and secret["last_handshake"] == HANDSHAKE + 5


def test_endpoint_address_needs_flow_detail(fresh_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    off = {"flow_detail": {"enabled": False}}
    with fresh_api(seed=False, store=off, wireguard=wireguard(tmp_path)) as a:
        endpoint = rows_by_id(a, a.tokens["admin"])[LAPTOP]["endpoint"]
        assert endpoint["address"] is None
        assert (endpoint["country"], endpoint["asn"]) == ("CH", 3303)  # the location still shows


def test_state_changes_show_at_once_and_privacy_hides_the_endpoint(api: LiveApi) -> None:
    """The seeded peers have traffic; reports arrive like the demo's. Results are cached, but
    never past a change of state or privacy."""
    states = api.runtime.peer_states
    states.report("peer-c", 1_000.0, SWISSCOM)
    assert rows_by_id(api, api.tokens["viewer"])["peer-c"]["last_handshake"] == 1_000.0
    states.report("peer-c", 2_000.0, SWISSCOM)
    row = rows_by_id(api, api.tokens["viewer"])["peer-c"]
    assert row["last_handshake"] == 2_000.0 and row["endpoint"]["country"] == "CH"
    assert rows_by_id(api, api.tokens["viewer"])["peer-b"]["endpoint"] is None  # never reported

    with api.client(api.tokens["viewer"]) as c:
        peers = c.get("/api/metrics/geo/map", params={"since": "24h"}).json()["peers"]
    on_map = {p["id"]: p for p in peers}
    assert on_map["peer-c"]["country"] == "CH" and on_map["peer-c"]["total_bytes"] > 0
    assert on_map["peer-b"]["country"] is None

    # a peer credential sees its own endpoint, and only its own peer
    states.report("peer-a", 3_000.0, "8.8.8.8")
    own = rows_by_id(api, api.tokens["peer"])
    assert set(own) == {"peer-a"} and own["peer-a"]["endpoint"]["asn"] == 15169

    with api.client(api.tokens["admin"]) as c:
        assert c.patch("/api/metrics/peers/peer-c", json={"private": True}).status_code == 200
        try:
            assert rows_by_id(api, api.tokens["viewer"])["peer-c"]["endpoint"] is None
            maps = c.get("/api/metrics/geo/map", params={"since": "24h"}).json()["peers"]
            assert next(p for p in maps if p["id"] == "peer-c")["country"] is None
        finally:
            c.patch("/api/metrics/peers/peer-c", json={"private": False, "scrub_history": False})
