"""Builders of small MaxMind-format (.mmdb) files for tests, written with the mmdb-writer package.

Import as ``from support.mmdb_fixtures import ...`` (tests/conftest.py puts tests/ on sys.path).

A fixture database maps networks (CIDR text) to :class:`GeoFact` values, written in the record
layout of one vendor schema:

- ``"maxmind"``: GeoIP2/GeoLite2 nested maps (country.iso_code, city.names.en, subdivisions,
  location, autonomous_system_number/organization at the top level),
- ``"flat"``: DB-IP / ip-location-db flat maps (country_code, city, state1, latitude...;
  "" = missing),
- ``"ipinfo"``: IPinfo maps (country, city, region, asn "AS64496", as_name),
- ``"asn"``: autonomous_system_number / autonomous_system_organization only.

:data:`DOC_NETWORKS` maps the documentation ranges (RFC 5737 / RFC 3849) and documentation ASNs
(RFC 5398) to countries, cities and ASNs, with networks longer than /24 inside a /24, for tests
that need a database with known answers: ``write_geo_db(tmp_path / "city.mmdb")`` and
``expected_fact(DOC_NETWORKS, "192.0.2.200")``.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdb_writer import (
    METADATA_MAGIC,
    Encoder,
    FloatType,
    IntType,
    MmdbF32,
    MMDBWriter,
    SearchTreeNode,
    TreeWriter,
)
from netaddr import IPNetwork, IPSet

IPV4_ALIASES = ("::ffff:0:0/96", "2002::/16")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ALIAS_REGIONS = (ipaddress.IPv6Network("::/80"), ipaddress.IPv6Network("2002::/16"))


@dataclass(frozen=True)
class GeoFact:
    """What a fixture network stands for; None = not recorded."""

    country: str | None = None
    city: str | None = None
    region: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    asn: int | None = None
    as_org: str | None = None
    registered_country: str | None = None  # written by the maxmind layout only


DOC_NETWORKS: dict[str, GeoFact] = {
    "192.0.2.0/24": GeoFact("DE", "Berlin", "Land Berlin", 52.52, 13.405, 64496, "Example Transit"),
    "192.0.2.128/25": GeoFact(
        "FR", "Paris", "Île-de-France", 48.8566, 2.3522, 64497, "Exemple Réseau SA"
    ),
    "192.0.2.200/32": GeoFact("CH", "Zürich", "Zurich", 47.3769, 8.5417, 64498, "Beispiel AG"),
    "198.51.100.0/24": GeoFact(
        "US", "Mountain View", "California", 37.386, -122.0838, 64499, "Example Cloud Inc"
    ),
    "203.0.113.0/24": GeoFact("JP", "Tokyo", "Tokyo", 35.6895, 139.6917, 64500, "Example KK"),
    "203.0.113.64/26": GeoFact("JP"),  # country only: every other field missing
    "2001:db8::/32": GeoFact(
        "NL", "Amsterdam", "North Holland", 52.3676, 4.9041, 64501, "Voorbeeld BV"
    ),
    "2001:db8:1::/48": GeoFact("GB", "London", "England", 51.5074, -0.1278, 64502, "Example Ltd"),
    "2001:db8:1:2::/64": GeoFact(
        "SE", "Stockholm", "Stockholm", 59.3293, 18.0686, 64503, "Exempel AB"
    ),
    "2001:db8:1:2::8/125": GeoFact("NO", "Oslo", "Oslo", 59.9139, 10.7522, 64504, "Eksempel AS"),
}


# -- record layouts ---------------------------------------------------------------------------


def maxmind_record(fact: GeoFact) -> dict[str, Any]:
    """GeoIP2-City-like nested record (with the GeoLite2-ASN fields at the top level)."""
    rec: dict[str, Any] = {}
    if fact.country:
        rec["country"] = {"iso_code": fact.country, "names": {"en": fact.country}}
        rec["continent"] = {"code": "EU", "names": {"en": "Europe"}}
    if fact.registered_country:
        rec["registered_country"] = {"iso_code": fact.registered_country}
    if fact.city:
        rec["city"] = {"geoname_id": 1000 + len(fact.city), "names": {"en": fact.city, "de": "x"}}
    if fact.region:
        rec["subdivisions"] = [{"iso_code": "R1", "names": {"en": fact.region}}, {"names": {}}]
    if fact.latitude is not None and fact.longitude is not None:
        rec["location"] = {
            "accuracy_radius": 20,
            "latitude": fact.latitude,
            "longitude": fact.longitude,
            "time_zone": "Europe/Berlin",
        }
        rec["postal"] = {"code": "10115"}
    if fact.asn is not None:
        rec["autonomous_system_number"] = fact.asn
    if fact.as_org is not None:
        rec["autonomous_system_organization"] = fact.as_org
    return rec


def flat_record(fact: GeoFact) -> dict[str, Any]:
    """DB-IP / ip-location-db city record: every key present, "" for unknown text."""
    rec: dict[str, Any] = {
        "city": fact.city or "",
        "country_code": fact.country or "",
        "postcode": "",
        "state1": fact.region or "",
        "state2": "",
        "timezone": "",
    }
    if fact.latitude is not None and fact.longitude is not None:
        # DB-IP files store float32 coordinates (read back as the nearest float32 value)
        rec["latitude"] = MmdbF32(fact.latitude)
        rec["longitude"] = MmdbF32(fact.longitude)
    if fact.asn is not None:
        rec["autonomous_system_number"] = fact.asn
        rec["autonomous_system_organization"] = fact.as_org or ""
    return rec


def ipinfo_record(fact: GeoFact) -> dict[str, Any]:
    """IPinfo-like record: country code in "country", ASN as "AS<number>" text."""
    rec: dict[str, Any] = {"country": fact.country or "", "country_name": fact.country or ""}
    if fact.city:
        rec["city"] = fact.city
    if fact.region:
        rec["region"] = fact.region
    if fact.latitude is not None and fact.longitude is not None:
        rec["latitude"] = str(fact.latitude)
        rec["longitude"] = str(fact.longitude)
    if fact.asn is not None:
        rec["asn"] = f"AS{fact.asn}"
        rec["as_name"] = fact.as_org or ""
        rec["as_domain"] = "example.net"
    return rec


def asn_record(fact: GeoFact) -> dict[str, Any]:
    """GeoLite2-ASN / ip-location-db ASN record."""
    rec: dict[str, Any] = {}
    if fact.asn is not None:
        rec["autonomous_system_number"] = fact.asn
    if fact.as_org is not None:
        rec["autonomous_system_organization"] = fact.as_org
    return rec


RECORD_LAYOUTS: dict[str, Callable[[GeoFact], dict[str, Any]]] = {
    "maxmind": maxmind_record,
    "flat": flat_record,
    "ipinfo": ipinfo_record,
    "asn": asn_record,
}


# -- writing ----------------------------------------------------------------------------------


class _SizedTreeWriter(TreeWriter):
    """mmdb-writer picks the smallest record size; tests also need 28 and 32 bits."""

    forced_record_size = 0

    def _adjust_record_size(self) -> None:
        super()._adjust_record_size()
        if self.forced_record_size:
            if self.forced_record_size < self.record_size:
                raise ValueError(f"record size {self.forced_record_size} too small")
            self.record_size = self.forced_record_size


def write_mmdb(
    path: Path,
    networks: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    ip_version: int = 6,
    database_type: str = "trafficatlas-test",
    record_size: int | None = None,
    ipv4_aliases: Sequence[str] = (),
    languages: Sequence[str] = ("en",),
    description: str = "trafficatlas test database",
    build_epoch: int | None = None,
    int_type: IntType = "auto",
    float_type: FloatType = "f64",
) -> Path:
    """Write networks → raw record values (any value mmdb-writer can encode) to ``path``.

    Shorter networks are inserted first so longer ones inside them win, whatever the order
    given. In an IPv6 database IPv4 networks live under ::/96; ``ipv4_aliases`` (a subset of
    :data:`IPV4_ALIASES`) adds records pointing those IPv6 regions at the IPv4 subtree, as
    MaxMind's own databases do. ``record_size`` forces 24, 28 or 32 bits.
    """
    items = list(networks.items()) if isinstance(networks, Mapping) else list(networks)
    items.sort(key=lambda item: ipaddress.ip_network(item[0]).prefixlen)
    writer = MMDBWriter(
        ip_version=ip_version,
        database_type=database_type,
        languages=list(languages),
        description=description,
        ipv4_compatible=ip_version == 6,
        int_type=int_type,
        float_type=float_type,
    )
    for cidr, record in items:
        writer.insert_network(IPSet([IPNetwork(cidr)]), record)
    if ipv4_aliases:
        _add_ipv4_aliases(writer.tree, ipv4_aliases)
    meta = {
        "ip_version": ip_version,
        "database_type": database_type,
        "languages": list(languages),
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "description": dict.fromkeys(languages, description),
        "build_epoch": int(time.time()) if build_epoch is None else build_epoch,
    }
    tree_writer = _SizedTreeWriter(writer.tree, meta, int_type, float_type)
    tree_writer.forced_record_size = record_size or 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tree_writer.write(str(path))
    return path


def _path_bits(cidr: str) -> list[int]:
    net = ipaddress.IPv6Network(cidr)
    value = int(net.network_address)
    return [(value >> (127 - i)) & 1 for i in range(net.prefixlen)]


def _node_at(tree: SearchTreeNode, bits: list[int]) -> SearchTreeNode:
    node = tree
    for bit in bits:
        child = node.get_or_create(bit)
        if not isinstance(child, SearchTreeNode):
            raise ValueError("an alias region is covered by a network; cannot alias it")
        node = child
    return node


def _add_ipv4_aliases(tree: SearchTreeNode, aliases: Sequence[str]) -> None:
    v4_root = _node_at(tree, [0] * 96)
    for alias in aliases:
        if alias not in IPV4_ALIASES:
            raise ValueError(f"unknown IPv4 alias {alias!r}")
        bits = _path_bits(alias)
        _node_at(tree, bits[:-1])[bits[-1]] = v4_root


def write_geo_db(
    path: Path,
    schema: str = "maxmind",
    networks: Mapping[str, GeoFact] = DOC_NETWORKS,
    **options: Any,
) -> Path:
    """Database of ``networks`` in the record layout of ``schema`` (see RECORD_LAYOUTS)."""
    layout = RECORD_LAYOUTS[schema]
    if "ip_version" in options and options["ip_version"] == 4:
        networks = {k: v for k, v in networks.items() if ":" not in k}
    return write_mmdb(path, {cidr: layout(fact) for cidr, fact in networks.items()}, **options)


def write_asn_db(
    path: Path, networks: Mapping[str, GeoFact] = DOC_NETWORKS, **options: Any
) -> Path:
    """ASN database (autonomous_system_number/organization) of ``networks``."""
    return write_geo_db(path, "asn", networks, **options)


def write_raw_mmdb(
    path: Path,
    data: bytes,
    left: int | None = 0,
    right: int | None = None,
    *,
    tree: bytes | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Hand-assembled database: a one-node IPv4 tree (24-bit records) over raw data bytes.

    ``left``/``right`` are data offsets for 0.0.0.0/1 and 128.0.0.0/1 (None = empty); ``tree``
    replaces the tree bytes and ``metadata`` overrides metadata keys (a None value drops a key),
    so tests can write exactly the corruption they need.
    """
    meta: dict[str, Any] = {
        "node_count": 1,
        "record_size": 24,
        "ip_version": 4,
        "database_type": "raw-test",
        "languages": [],
        "binary_format_major_version": 2,
        "binary_format_minor_version": 0,
        "build_epoch": 0,
        "description": {},
    }
    for key, value in (metadata or {}).items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    if tree is None:
        nodes = int(meta.get("node_count", 1))
        records = [nodes if off is None else nodes + 16 + off for off in (left, right)]
        tree = b"".join(r.to_bytes(3, "big") for r in records)
    blob = tree + bytes(16) + data + METADATA_MAGIC + Encoder(cache=False).encode_meta(meta)
    path.write_bytes(blob)
    return path


# -- expectations -----------------------------------------------------------------------------


def expected_fact(networks: Mapping[str, Any], address: str) -> tuple[Network, Any] | None:
    """The most specific fixture network holding ``address`` and its value (None if none).

    IPv4 addresses match IPv4 networks only (an IPv6 database keeps them under ::/96).
    """
    addr = ipaddress.ip_address(address)
    best: tuple[Network, Any] | None = None
    for cidr, value in networks.items():
        net = ipaddress.ip_network(cidr)
        if (
            net.version == addr.version
            and addr in net
            and (best is None or net.prefixlen > best[0].prefixlen)
        ):
            best = (net, value)
    return best


def random_networks(
    seed: int, count_v4: int = 600, count_v6: int = 600, facts: int = 150
) -> dict[str, GeoFact]:
    """Random nested networks (IPv4 /8–/32, IPv6 /12–/128) over a pool of random facts."""
    rng = random.Random(seed)
    pool = [_random_fact(rng, i) for i in range(facts)]
    out: dict[str, GeoFact] = {}
    while len(out) < count_v4:
        plen = rng.choice([8, 10, 12, 16, 16, 20, 22, 24, 24, 24, 25, 26, 28, 30, 31, 32])
        net4 = ipaddress.IPv4Network((rng.getrandbits(32), plen), strict=False)
        out[str(net4)] = rng.choice(pool)
    start = len(out)
    while len(out) < start + count_v6:
        plen = rng.choice(
            [12, 16, 20, 24, 28, 32, 32, 36, 40, 44, 48, 48, 56, 64, 96, 112, 127, 128]
        )
        # mostly inside 2000::/3 (where random IPv6 samples are steered), some anywhere
        top = rng.getrandbits(125) | (1 << 125) if rng.random() < 0.8 else rng.getrandbits(128)
        net = ipaddress.IPv6Network((top, plen), strict=False)
        if any(net.overlaps(region) for region in _ALIAS_REGIONS):
            continue  # keep IPv4 (::/96), IPv4-mapped and 6to4 regions free for alias tests
        out[str(net)] = rng.choice(pool)
    return out


def _random_fact(rng: random.Random, i: int) -> GeoFact:
    countries = ["DE", "FR", "US", "JP", "BR", "ZA", "IN", "AU", "CA", "CH", "SE", "NL"]
    full = rng.random() < 0.8
    return GeoFact(
        country=rng.choice(countries) if rng.random() < 0.95 else None,
        city=f"City {i} ü" if full else None,
        region=f"Region {i % 17}" if full and rng.random() < 0.8 else None,
        latitude=round(rng.uniform(-90, 90), 4) if full else None,
        longitude=round(rng.uniform(-180, 180), 4) if full else None,
        asn=rng.choice([64496 + i, 4_200_000_000 + i, 13335, 70000 + i])
        if rng.random() < 0.9
        else None,
        as_org=f"Org {i}" if rng.random() < 0.9 else None,
        registered_country=rng.choice(countries) if rng.random() < 0.3 else None,
    )
