"""The GeoIP engine end to end: fixture databases + bundled data, layering, cache, reload."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.enrich.countries import encode_country
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.errors import DatabaseError
from trafficatlas.net import parse_ips
from trafficatlas.settings import GeoIPDatabase, GeoIPSettings

from support.mmdb_fixtures import (
    DOC_NETWORKS,
    IPV4_ALIASES,
    GeoFact,
    write_asn_db,
    write_geo_db,
)

DOC = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]


def engine(tmp_path: Path, *dbs: Path, bundled: bool = True, cache: bool = True) -> GeoIP:
    settings = GeoIPSettings(
        use_bundled=bundled,
        databases=[GeoIPDatabase(path=p) for p in dbs],
        lookup_reserved=DOC,
    )
    geo = GeoIP(settings, tmp_path / "cache" if cache else None)
    geo.load()
    return geo


@pytest.mark.parametrize("schema", ["maxmind", "flat", "ipinfo"])
def test_every_field_from_a_city_db(tmp_path: Path, schema: str) -> None:
    city = tmp_path / f"city-{schema}.mmdb"
    write_geo_db(city, schema)
    write_asn_db(tmp_path / "asn.mmdb")
    geo = engine(tmp_path, city, tmp_path / "asn.mmdb")
    rows = {
        r["ip"]: r
        for r in geo.lookup_ips(
            ["192.0.2.1", "192.0.2.130", "192.0.2.200", "2001:db8:1:2::9", "203.0.113.70"]
        )
    }
    r = rows["192.0.2.1"]
    assert (r["country"], r["country_name"], r["asn"]) == ("DE", "Germany", 64496)
    assert r["as_org"] == "Example Transit"
    assert r["network"] == "192.0.2.0/25"  # the /25 beside it is a different leaf
    if schema != "ipinfo":
        assert r["city"] == "Berlin"
        assert r["latitude"] == pytest.approx(52.52, abs=1e-4)
        assert r["longitude"] == pytest.approx(13.405, abs=1e-4)
    paris = rows["192.0.2.130"]
    assert (paris["country"], paris["asn"]) == ("FR", 64497)
    assert paris["network"] == "192.0.2.128/26"  # the /32 at .200 splits the /25's tree
    zurich = rows["192.0.2.200"]
    assert (zurich["country"], zurich["flag"], zurich["network"]) == ("CH", "🇨🇭", "192.0.2.200/32")
    assert zurich["as_org"] == "Beispiel AG"
    oslo = rows["2001:db8:1:2::9"]
    assert (oslo["country"], oslo["asn"], oslo["network"]) == ("NO", 64504, "2001:db8:1:2::8/125")
    jp = rows["203.0.113.70"]
    assert jp["country"] == "JP"
    assert jp["city"] is None and jp["latitude"] is None


def test_layering_city_before_country_before_bundled(tmp_path: Path) -> None:
    # a country-only database says 192.0.2.0/24 is IT; the city database says DE: city wins
    country = tmp_path / "country.mmdb"
    write_geo_db(country, "flat", {"192.0.2.0/24": GeoFact("IT"), "8.8.8.0/24": GeoFact("SE")})
    city = tmp_path / "city.mmdb"
    write_geo_db(city, "maxmind")
    geo = engine(tmp_path, country, city)
    rows = {r["ip"]: r for r in geo.lookup_ips(["192.0.2.1", "8.8.8.8", "1.1.1.1"])}
    assert rows["192.0.2.1"]["country"] == "DE"
    assert rows["8.8.8.8"]["country"] == "SE"  # configured beats bundled
    assert rows["1.1.1.1"]["country"] == "AU"  # only the bundled data knows it
    assert rows["1.1.1.1"]["asn"] == 13335
    names = [d.name for d in geo.databases()]
    assert names == ["country.mmdb", "city.mmdb", "bundled-country", "bundled-asn"]


def test_special_ranges_are_labelled_not_looked_up(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    write_geo_db(city, "maxmind", {"10.0.0.0/8": GeoFact("DE"), **DOC_NETWORKS})
    geo = GeoIP(GeoIPSettings(use_bundled=False, databases=[GeoIPDatabase(path=city)]))
    geo.load()
    rows = geo.lookup_ips(["10.1.1.1", "192.0.2.1", "127.0.0.1", "fe80::1"])
    assert [r["label"] for r in rows] == ["PRIVATE", "DOCUMENTATION", "LOOPBACK", "LINK_LOCAL"]
    assert all(r["country"] is None for r in rows)


def test_batch_matches_single_lookups_and_order_is_kept(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    write_geo_db(city, "flat")
    geo = engine(tmp_path, city)
    rng = np.random.default_rng(3)
    ips = [f"192.0.2.{i}" for i in rng.integers(0, 256, 400)]
    ips += [f"8.8.{a}.{b}" for a, b in rng.integers(0, 256, (400, 2))]
    ips += [f"2001:db8:1:2::{i:x}" for i in rng.integers(0, 32, 300)]
    rng.shuffle(ips)
    v, hi, lo = parse_ips(ips)
    cols = geo.lookup(v, hi, lo)  # large enough to take the sorted path
    singles = [geo.lookup(v[i : i + 1], hi[i : i + 1], lo[i : i + 1]) for i in range(len(ips))]
    assert [int(s.country[0]) for s in singles] == [int(c) for c in cols.country]
    assert [int(s.asn[0]) for s in singles] == [int(a) for a in cols.asn]
    cities = cols.strings("city")
    assert [s.strings("city")[0] for s in singles] == list(cities)
    zurich = [i for i, ip in enumerate(ips) if ip == "192.0.2.200"]
    assert all(cols.country[i] == encode_country("CH") for i in zurich)


def test_ipv4_mapped_and_aliases(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    write_geo_db(city, "maxmind", ipv4_aliases=IPV4_ALIASES)
    geo = engine(tmp_path, city, bundled=False)
    rows = geo.lookup_ips(["::ffff:192.0.2.1", "2002:c000:0201::1"])
    assert [r["country"] for r in rows] == ["DE", "DE"]


def test_table_cache_is_used_and_keyed_by_file(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    write_geo_db(city, "maxmind")
    first = engine(tmp_path, city, bundled=False)
    assert not first.databases()[0].cached
    cached = list((tmp_path / "cache").glob("*.tat"))
    assert len(cached) == 1
    second = engine(tmp_path, city, bundled=False)
    assert second.databases()[0].cached
    # a corrupt cache file is ignored (rebuilt), never fatal
    cached[0].write_bytes(b"garbage")
    third = engine(tmp_path, city, bundled=False)
    assert third.lookup_ips(["192.0.2.1"])[0]["country"] == "DE"


def test_reload_swaps_changed_database(tmp_path: Path) -> None:
    db = tmp_path / "geo.mmdb"
    write_geo_db(db, "flat", {"192.0.2.0/24": GeoFact("DE")})
    geo = engine(tmp_path, db, bundled=False)
    assert geo.reload_changed() == []
    new = tmp_path / "new.mmdb"
    write_geo_db(new, "flat", {"192.0.2.0/24": GeoFact("PT")}, build_epoch=2_000_000_000)
    os.replace(new, db)
    assert geo.reload_changed() == ["geo.mmdb"]
    assert geo.lookup_ips(["192.0.2.1"])[0]["country"] == "PT"
    # a broken replacement keeps the previous table
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a database at all")
    shutil.copy(broken, db)
    assert geo.reload_changed() == []
    assert geo.lookup_ips(["192.0.2.1"])[0]["country"] == "PT"


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"random bytes" * 50])
def test_bad_database_files_are_clear_errors(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(content)
    with pytest.raises(DatabaseError, match=r"bad\.mmdb"):
        engine(tmp_path, bad)


def test_missing_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="not found"):
        engine(tmp_path, tmp_path / "nope.mmdb")
    with pytest.raises(DatabaseError, match="directory"):
        engine(tmp_path, tmp_path)


def test_truncated_database_is_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "city.mmdb"
    write_geo_db(db, "maxmind")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatabaseError):
        engine(tmp_path, db)


def test_asn_csv_database(tmp_path: Path) -> None:
    csv = tmp_path / "asn.csv"
    csv.write_text('192.0.2.0,192.0.2.255,64511,"Example, Inc."\n')
    geo = engine(tmp_path, csv, bundled=False)
    row = geo.lookup_ips(["192.0.2.77"])[0]
    assert (row["asn"], row["as_org"], row["network"]) == (64511, "Example, Inc.", "192.0.2.0/24")
