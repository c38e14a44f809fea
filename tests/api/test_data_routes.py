"""Data routes over a real store: answers equal sums of what was written, filters apply,
a peer credential sees only its peer, bad parameters are 4xx with a clear message."""

from __future__ import annotations

import time

import numpy as np
import pytest

from trafficatlas.store.flows import FlowRecords

from support.apiserver import LiveApi

pytestmark = pytest.mark.network

RANGE = {"since": "3d"}
VALUES = ("total_bytes", "tx_bytes", "rx_bytes", "packets", "flows")


def values(d: dict[str, object]) -> dict[str, object]:
    return {k: d[k] for k in VALUES}


def test_countries_sum_what_was_written(api: LiveApi) -> None:
    with api.client(api.tokens["viewer"]) as c:
        body = c.get("/api/metrics/geo/countries", params=RANGE).json()
    assert values(body["totals"]) == api.expected()
    by_code = {r["code"]: r for r in body["rows"]}
    assert set(by_code) == {"CH", "DE", "US", "FR", ""}
    for code, row in by_code.items():
        assert values(row) == api.expected(country=code)
    assert by_code["CH"]["name"] == "Switzerland"
    assert by_code["CH"]["flag"] == "🇨🇭"
    assert by_code[""]["name"] is None
    sizes = [r["total_bytes"] for r in body["rows"]]
    assert sizes == sorted(sizes, reverse=True)
    assert sum(r["percent"] for r in body["rows"]) == pytest.approx(100.0)
    assert body["requested_until"] - body["requested_since"] == 3 * 86_400
    assert body["since"] <= body["requested_since"]


def test_filters_are_applied(api: LiveApi) -> None:
    params = {**RANGE, "country": ["ch", "DE"], "direction": "sent", "ip_version": 6}
    with api.client(api.tokens["admin"]) as c:
        body = c.get("/api/metrics/geo/countries", params=params).json()
        by_asn = c.get("/api/metrics/geo/asn", params={**RANGE, "asn": 13335}).json()
        by_peer = c.get("/api/metrics/geo/countries", params={**RANGE, "peer": "peer-b"}).json()
    assert values(body["totals"]) == api.expected(country=["CH", "DE"], direction=1, ip_version=6)
    assert body["totals"]["rx_bytes"] == 0
    assert [r["asn"] for r in by_asn["rows"]] == [13335]
    assert by_asn["rows"][0]["organization"] == "Cloudflare"
    assert values(by_peer["totals"]) == api.expected(peer="peer-b")


def test_limit_sums_the_rest_in_other(api: LiveApi) -> None:
    with api.client(api.tokens["viewer"]) as c:
        body = c.get("/api/metrics/geo/asn", params={**RANGE, "limit": 2}).json()
    assert len(body["rows"]) == 2
    assert body["groups"] == 4
    assert body["other"]["asn"] == 0 and body["other"]["organization"] is None
    total = sum(r["total_bytes"] for r in body["rows"]) + body["other"]["total_bytes"]
    assert total == api.expected()["total_bytes"]
    named = [r for r in body["rows"] if r["asn"]]
    assert named and all(r["country"] in {"CH", "DE", "US", "FR"} for r in named)


def test_peer_credential_sees_only_its_peer(api: LiveApi) -> None:
    own = api.expected(peer="peer-a")
    with api.client(api.tokens["peer"]) as c:
        countries = c.get("/api/metrics/geo/countries", params=RANGE).json()
        explicit = c.get("/api/metrics/geo/countries", params={**RANGE, "peer": "peer-a"})
        other = c.get("/api/metrics/geo/countries", params={**RANGE, "peer": "peer-b"})
        peers = c.get("/api/metrics/peers", params=RANGE).json()
        own_geo = c.get("/api/metrics/peers/peer-a/geo", params=RANGE)
        other_geo = c.get("/api/metrics/peers/peer-b/geo", params=RANGE)
        series = c.get("/api/metrics/timeseries", params={**RANGE, "by": "peer"}).json()
    assert values(countries["totals"]) == own
    assert values(explicit.json()["totals"]) == own
    assert other.status_code == 403
    assert "own peer" in other.json()["detail"]
    assert [p["id"] for p in peers["rows"]] == ["peer-a"]
    assert own_geo.status_code == 200 and values(own_geo.json()["totals"]) == own
    assert other_geo.status_code == 403
    assert [s["key"] for s in series["series"]] == [{"peer": "peer-a"}]


def test_peers_and_peer_geo(api: LiveApi) -> None:
    with api.client(api.tokens["viewer"]) as c:
        peers = c.get("/api/metrics/peers", params=RANGE).json()
        geo = c.get("/api/metrics/peers/peer-c/geo", params=RANGE).json()
        missing = c.get("/api/metrics/peers/nobody/geo", params=RANGE)
    assert {p["id"]: values(p) for p in peers["rows"]} == {
        p: api.expected(peer=p) for p in ("peer-a", "peer-b", "peer-c")
    }
    assert peers["rows"][0]["name"] == peers["rows"][0]["id"]  # registered with its id as name
    assert geo["peer"]["id"] == "peer-c"
    assert values(geo["totals"]) == api.expected(peer="peer-c")
    assert missing.status_code == 404


def test_cities_and_map(api: LiveApi) -> None:
    with api.client(api.tokens["viewer"]) as c:
        cities = c.get("/api/metrics/geo/cities", params=RANGE).json()
        world = c.get("/api/metrics/geo/map", params={**RANGE, "lines": 3}).json()
    zurich = next(r for r in cities["rows"] if (r["country"], r["city"]) == ("CH", "Zurich"))
    assert (zurich["latitude"], zurich["longitude"]) == (47.37, 8.54)
    assert values(zurich) == api.expected(city="Zurich", country="CH")
    assert {(p["country"], p["city"]) for p in world["points"]} <= {
        ("CH", "Zurich"),
        ("DE", "Berlin"),
    }
    assert max(p["intensity"] for p in world["points"]) == 1.0
    located = sum(p["total_bytes"] for p in world["points"])
    assert located + world["unlocated_bytes"] == api.expected()["total_bytes"]
    assert {c["code"] for c in world["countries"]} == {"CH", "DE", "US", "FR"}
    assert {p["id"] for p in world["peers"]} == {"peer-a", "peer-b", "peer-c"}
    assert 0 < len(world["lines"]) <= 3
    assert all(line["to_latitude"] is not None for line in world["lines"])


def test_timeseries_adds_up(api: LiveApi) -> None:
    params = {**RANGE, "by": "country", "step": "1h", "limit": 2}
    with api.client(api.tokens["viewer"]) as c:
        body = c.get("/api/metrics/timeseries", params=params).json()
    assert body["step"] == 3600
    n = len(body["timestamps"])
    assert all(len(s["total_bytes"]) == n for s in body["series"])
    assert len(body["series"]) == 2 and body["other"] is not None
    summed = sum(sum(s["total_bytes"]) for s in [*body["series"], body["other"]])
    assert summed == body["totals"]["total_bytes"] == api.expected()["total_bytes"]


@pytest.mark.parametrize(
    ("path", "params", "status", "mentions"),
    [
        ("/api/metrics/geo/countries", {"since": "yesterday-ish"}, 422, "not a time"),
        ("/api/metrics/geo/countries", {"since": "1h", "until": "2h"}, 422, "later than"),
        ("/api/metrics/geo/countries", {"since": "inf"}, 422, "usable time"),
        ("/api/metrics/geo/countries", {"limit": 0}, 422, "greater than"),
        ("/api/metrics/geo/countries", {"direction": "sideways"}, 422, "outbound"),
        ("/api/metrics/geo/countries", {"ip_version": 5}, 422, "4 or 6"),
        ("/api/metrics/geo/countries", {"asn": -1}, 422, "greater than"),
        ("/api/metrics/geo/countries", {"country": "CHE"}, 422, "pattern"),
        ("/api/metrics/geo/countries", {"proto": "tcp"}, 422, "integer"),
        ("/api/metrics/timeseries", {"step": "soon"}, 422, "duration"),
        ("/api/metrics/timeseries", {"step": "90s"}, 400, "multiple"),
        ("/api/metrics/timeseries", {"by": "nothing"}, 422, "country"),
        ("/api/metrics/geo/export", {"format": "xls"}, 422, "csv"),
        ("/api/lookup", {"ip": "999.1.1.1"}, 422, "999.1.1.1"),
        ("/api/lookup", {}, 422, "ip"),
    ],
)
def test_bad_parameters_are_clear_4xx(
    api: LiveApi, path: str, params: dict[str, object], status: int, mentions: str
) -> None:
    with api.client(api.tokens["admin"]) as c:
        r = c.get(path, params=params)
    assert r.status_code == status, r.text
    assert mentions in r.text


def test_results_follow_new_writes(api: LiveApi) -> None:
    from support.storedata import random_rows

    with api.client(api.tokens["viewer"]) as c:
        before = c.get("/api/metrics/geo/countries", params={"since": "1h"}).json()
        again = c.get("/api/metrics/geo/countries", params={"since": "1h"}).json()
        assert again["totals"] == before["totals"]  # reused while nothing changed
        now = int(time.time())
        extra = random_rows(np.random.default_rng(9), now - now % 60 - 120, 1, 3)
        extra.peer[:] = "peer-z"
        api.runtime.require_store().write(extra)
        after = c.get("/api/metrics/geo/countries", params={"since": "1h"}).json()
        latest = c.get("/api/metrics/geo/countries", params={"since": "1h", "peer": "peer-z"})
    added = int(extra.bytes.sum())
    assert after["totals"]["total_bytes"] == before["totals"]["total_bytes"] + added
    assert latest.json()["totals"]["total_bytes"] == added


def test_flows_drilldown(api: LiveApi) -> None:
    now = time.time()
    records = FlowRecords.build(
        3,
        ts=[now - 300, now - 200, now - 100],
        peer=["peer-a", "peer-b", "peer-a"],
        direction=1,
        country="CH",
        remote_addr=["198.51.100.7", "198.51.100.8", "198.51.100.7"],
        remote_port=[443, 443, 443],
        bytes=[100, 200, 300],
        packets=1,
    )
    assert api.runtime.require_store().write_flows(records) == 3
    with api.client(api.tokens["viewer"]) as c:
        all_flows = c.get("/api/flows", params={"since": "1h"}).json()
    with api.client(api.tokens["peer"]) as c:
        own = c.get("/api/flows", params={"since": "1h"}).json()
    keys = {
        (r["key"]["remote_addr"], r["key"]["remote_port"]): r["total_bytes"]
        for r in all_flows["rows"]
    }
    assert keys == {("198.51.100.7", 443): 400, ("198.51.100.8", 443): 200}
    assert [r["total_bytes"] for r in own["rows"]] == [400]


def test_flows_off_is_a_clear_403(fresh_api) -> None:  # type: ignore[no-untyped-def]
    with (
        fresh_api(seed=False, store={"flow_detail": {"enabled": False}}) as a,
        a.client(a.tokens["viewer"]) as c,
    ):
        r = c.get("/api/flows")
    assert r.status_code == 403
    assert "flow detail" in r.json()["detail"]


def test_lookup_and_geoip(api: LiveApi) -> None:
    with api.client(api.tokens["viewer"]) as c:
        found = c.get("/api/lookup", params={"ip": ["8.8.8.8", "10.1.2.3"]}).json()["results"]
        info = c.get("/api/geoip").json()
    with api.client(api.tokens["admin"]) as c:
        update = c.post("/api/geoip/update")
    assert found[0]["country"] == "US" and found[0]["asn"] == 15169
    assert found[1]["label"] == "PRIVATE" and found[1]["country"] is None
    assert {d["name"] for d in info["databases"]} >= {"bundled-country"}
    assert "CC BY 4.0" in info["attribution"]
    assert update.status_code == 409 and "geoip.sources" in update.json()["detail"]


def test_peer_privacy_scrubs_geography(fresh_api) -> None:  # type: ignore[no-untyped-def]
    with fresh_api() as a:
        with a.client(a.tokens["viewer"]) as c:
            denied = c.patch("/api/metrics/peers/peer-c", json={"private": True})
        with a.client(a.tokens["admin"]) as c:
            r = c.patch("/api/metrics/peers/peer-c", json={"name": "Carol", "private": True})
            body = c.get("/api/metrics/geo/countries", params={**RANGE, "peer": "peer-c"}).json()
            peers = c.get("/api/metrics/peers", params=RANGE).json()
            missing = c.patch("/api/metrics/peers/nobody", json={"name": "x"})
    assert denied.status_code == 403
    assert r.status_code == 200, r.text
    assert r.json()["peer"] == {**r.json()["peer"], "name": "Carol", "private": True}
    assert r.json()["scrubbed_rows"] > 0
    assert [row["code"] for row in body["rows"]] == [""]  # totals stay, geography is gone
    assert values(body["totals"]) == a.expected(peer="peer-c")
    carol = next(p for p in peers["rows"] if p["id"] == "peer-c")
    assert carol["name"] == "Carol" and carol["private"] is True
    assert missing.status_code == 404


def test_geoip_update_installs_and_reloads(fresh_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from support.mmdb_fixtures import write_geo_db

    db = write_geo_db(tmp_path / "city-source.mmdb")
    geoip = {
        "sources": [{"name": "city", "kind": "file", "url": str(db), "role": "city"}],
        "lookup_reserved": ["192.0.2.0/24"],  # the fixture uses documentation networks
    }
    with fresh_api(seed=False, geoip=geoip) as a, a.client(a.tokens["admin"]) as c:
        before = c.get("/api/lookup", params={"ip": "192.0.2.1"}).json()["results"][0]
        r = c.post("/api/geoip/update")
        after = c.get("/api/lookup", params={"ip": "192.0.2.1"}).json()["results"][0]
        names = [d["name"] for d in c.get("/api/geoip").json()["databases"]]
        audit = c.get("/api/audit", params={"action": "geoip.update"}).json()["entries"]
    assert before["city"] is None
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "updated" and r.json()["reloaded"] is True
    assert (after["country"], after["city"]) == ("DE", "Berlin")
    assert len(names) >= 3  # the installed city database before the bundled tables
    assert audit and audit[0]["success"] is True
