import ipaddress
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.enrich.countries import decode_country
from trafficatlas.enrich.csvranges import load_csv_table
from trafficatlas.enrich.rangetable import PREFIX_FROM_RANGE, RangeTable
from trafficatlas.enrich.tablefile import load_table, save_table
from trafficatlas.errors import DatabaseError
from trafficatlas.net import format_network, parse_ips

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "asn"


Answer = tuple[int | None, str | None, str | None]


def _lookup(table: RangeTable, texts: list[str]) -> list[Answer]:
    """(asn, org, matched network) per address; all None where the table has no data."""
    v, h, lo = parse_ips(texts)
    values, prefix, nh, nl = table.lookup(v, h, lo)
    out: list[Answer] = []
    for i in range(len(texts)):
        if values[i] < 0:
            assert prefix[i] == 0
            out.append((None, None, None))
            continue
        net = format_network(int(v[i]), int(nh[i]), int(nl[i]), int(prefix[i]))
        asn = int(table.records.columns["asn"][values[i]])
        out.append((asn, table.records.columns["as_org"][values[i]], net))
    return out


def test_ipv4_text_file() -> None:
    table, stats = load_csv_table([FIXTURES / "asn-ipv4.csv"], "asn")
    assert stats.files == 1
    assert stats.rows == 12
    assert stats.malformed == 5
    assert stats.overlapping == 1
    assert stats.ranges_v4 == 6
    assert stats.ranges_v6 == 0
    assert stats.records == 4  # the overlapping row's record is pruned
    assert len(stats.problems) == 6
    assert any("asn-ipv4.csv:8" in p and "not-an-ip" in p for p in stats.problems)
    assert any("different IP versions" in p for p in stats.problems)
    assert any("198.51.100.64-198.51.100.191" in p for p in stats.problems)
    got = _lookup(
        table,
        [
            *("192.0.2.10", "192.0.2.100", "192.0.2.200"),
            *("198.51.100.5", "198.51.100.150", "203.0.113.200", "10.1.2.3"),
        ],
    )
    assert got == [
        (64496, "Documentation Networks", "192.0.2.0/26"),
        (64497, "Exämple Ünïcode, GmbH", "192.0.2.64/26"),
        (64496, "Documentation Networks", "192.0.2.128/25"),
        (64500, "Example Transit, Inc.", "198.51.100.0/25"),
        (None, None, None),  # only the dropped overlapping row covered it
        (64502, None, "203.0.113.0/24"),  # two touching rows, merged; empty org is None
        (None, None, None),
    ]
    assert set(table.v4_prefix[table.v4_values >= 0].tolist()) == {PREFIX_FROM_RANGE}
    assert table.records.columns["asn"].dtype == np.uint32


def test_ipv6_text_file_with_quotes() -> None:
    table, stats = load_csv_table([FIXTURES / "asn-ipv6.csv"], "asn")
    assert (stats.rows, stats.malformed, stats.ranges_v6, stats.ranges_v4) == (4, 1, 3, 0)
    got = _lookup(table, ["2001:db8::1", "2001:db8:1::9", "2001:db8:1:1::", "2001:db8:3:5::"])
    assert got == [
        (64496, "Documentation Networks", "2001:db8::/48"),
        (65536, 'Six, Example "Quoted" Org', "2001:db8:1::/64"),
        (None, None, None),
        (65551, "Ünïcode Six 東京", "2001:db8:3::/48"),
    ]


def test_numeric_files_give_the_same_table() -> None:
    text, text_stats = load_csv_table([FIXTURES / "asn-ipv4.csv", FIXTURES / "asn-ipv6.csv"], "asn")
    num, num_stats = load_csv_table(
        [FIXTURES / "asn-ipv4-num.csv", FIXTURES / "asn-ipv6-num.csv"], "asn"
    )
    for name in ("v4_starts", "v4_values", "v4_prefix", "v6_hi", "v6_lo", "v6_values", "v6_prefix"):
        np.testing.assert_array_equal(getattr(text, name), getattr(num, name), err_msg=name)
    assert text.records.columns["asn"].tolist() == num.records.columns["asn"].tolist()
    assert text.records.columns["as_org"].tolist() == num.records.columns["as_org"].tolist()
    assert (num_stats.malformed, num_stats.overlapping) == (text_stats.malformed, 1)
    assert num_stats.records == 6  # (64496, Documentation Networks) shared by both families


@pytest.mark.parametrize("compact", [False, True])
def test_csv_tables_survive_the_table_file(tmp_path: Path, compact: bool) -> None:
    # One family only (the other is a single gap) and both families.
    for files in (["asn-ipv4.csv"], ["asn-ipv6.csv"], ["asn-ipv4.csv", "asn-ipv6-num.csv"]):
        table, _ = load_csv_table([FIXTURES / f for f in files], "asn")
        save_table(table, tmp_path / "t.tat", compact=compact)
        loaded, _ = load_table(tmp_path / "t.tat")
        texts = ["192.0.2.70", "203.0.113.1", "2001:db8:3::1", "2001:db8:1::1"]
        assert _lookup(loaded, texts) == _lookup(table, texts)


def test_numeric_family_from_magnitude_without_name_hint(tmp_path: Path) -> None:
    six = tmp_path / "ranges.csv"
    doc = int(ipaddress.IPv6Address("2001:db8::"))
    six.write_text(f"0,255,64496,Low\n{doc},{doc + 65535},64497,High\n")
    table, stats = load_csv_table([six], "asn")
    assert (stats.ranges_v4, stats.ranges_v6) == (0, 2)
    assert _lookup(table, ["::7", "2001:db8::ff"]) == [
        (64496, "Low", "::/120"),
        (64497, "High", "2001:db8::/112"),
    ]
    four = tmp_path / "other.csv"
    four.write_text("3221225984,3221226239,64496,Low\n")
    table, stats = load_csv_table([four], "asn")
    assert (stats.ranges_v4, stats.ranges_v6) == (1, 0)
    assert _lookup(table, ["192.0.2.9"]) == [(64496, "Low", "192.0.2.0/24")]


def test_country_file() -> None:
    table, stats = load_csv_table([FIXTURES / "country-ipv4.csv"], "country")
    assert (stats.rows, stats.malformed, stats.ranges_v4, stats.ranges_v6) == (5, 1, 3, 1)
    assert stats.records == 3
    assert list(table.records.columns) == ["country"]
    assert table.records.columns["country"].dtype == np.uint16
    v, h, lo = parse_ips(["192.0.2.5", "192.0.2.250", "198.51.100.1", "203.0.113.1", "2001:db8::1"])
    values, prefix, nh, nl = table.lookup(v, h, lo)
    codes = [
        decode_country(int(table.records.columns["country"][i])) if i >= 0 else None for i in values
    ]
    assert codes == ["CH", "CH", None, "JP", "DE"]
    assert format_network(4, int(nh[1]), int(nl[1]), int(prefix[1])) == "192.0.2.0/24"
    assert format_network(6, int(nh[4]), int(nl[4]), int(prefix[4])) == "2001:db8::/32"


def test_unsorted_and_overlapping_rows_across_files(tmp_path: Path) -> None:
    first = tmp_path / "a-ipv4.csv"
    second = tmp_path / "b-ipv4.csv"
    first.write_text("192.0.2.128,192.0.2.255,64497,B\n192.0.2.0,192.0.2.127,64496,A\n")
    # Same start as a row of the first file: the first file's row wins; a nested row is dropped.
    second.write_text("192.0.2.0,192.0.2.127,64500,Dup\n192.0.2.10,192.0.2.20,64501,Nested\n")
    table, stats = load_csv_table([first, second], "asn")
    assert stats.overlapping == 2
    assert stats.ranges_v4 == 2
    got = _lookup(table, ["192.0.2.15", "192.0.2.130"])
    assert got == [(64496, "A", "192.0.2.0/25"), (64497, "B", "192.0.2.128/25")]


def test_ipv6_overlaps_keep_the_first(tmp_path: Path) -> None:
    path = tmp_path / "x-ipv6.csv"
    path.write_text(
        "2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64496,Big\n"
        "2001:db8:5::,2001:db8:5::ff,64497,Inside\n"
        "2001:db9::,2001:db9::ffff,64498,After\n"
    )
    table, stats = load_csv_table([path], "asn")
    assert stats.overlapping == 1
    assert _lookup(table, ["2001:db8:5::1", "2001:db9::1"]) == [
        (64496, "Big", "2001:db8::/32"),
        (64498, "After", "2001:db9::/112"),
    ]


def test_header_blank_lines_and_as_prefix(tmp_path: Path) -> None:
    path = tmp_path / "asn-ipv4.csv"
    path.write_bytes("\ufeffstart,end,asn,org\n\n192.0.2.0,192.0.2.255,AS64496,Doc\r\n\n".encode())
    table, stats = load_csv_table([path], "asn")
    assert (stats.rows, stats.malformed, stats.ranges_v4) == (1, 0, 1)
    assert _lookup(table, ["192.0.2.1"]) == [(64496, "Doc", "192.0.2.0/24")]


def test_unterminated_quote_does_not_swallow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "asn-ipv4.csv"
    path.write_text(
        "192.0.2.0,192.0.2.127,64496,Doc\n"
        '192.0.2.128,192.0.2.255,64497,"Broken\n'
        "198.51.100.0,198.51.100.255,64498,Lost\n"
    )
    _, stats = load_csv_table([path], "asn")
    assert stats.malformed == 1
    assert stats.ranges_v4 == 1
    assert "unterminated" in stats.problems[0]


def test_binary_garbage_rows_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "asn-ipv4.csv"
    path.write_bytes(b"192.0.2.0,192.0.2.255,64496,Doc\n\xff\xfe\x00\x01,\x80,1,2\n")
    _, stats = load_csv_table([path], "asn")
    assert stats.ranges_v4 == 1
    assert stats.malformed == 1


def test_oversized_field_is_skipped_and_reading_resumes(tmp_path: Path) -> None:
    path = tmp_path / "asn-ipv4.csv"
    path.write_text(
        "192.0.2.0,192.0.2.127,64496,Doc\n"
        f"192.0.2.128,192.0.2.191,64497,{'x' * 200_000}\n"
        "192.0.2.192,192.0.2.255,²³,Superscript digits\n"
        "198.51.100.0,198.51.100.255,64498,After\n"
    )
    table, stats = load_csv_table([path], "asn")
    assert (stats.rows, stats.malformed, stats.ranges_v4) == (4, 2, 2)
    assert "field limit" in stats.problems[0]
    assert _lookup(table, ["198.51.100.1"]) == [(64498, "After", "198.51.100.0/24")]


@pytest.mark.parametrize(
    ("role", "content"),
    [
        ("asn", "start,end,asn,org\nfoo,bar,1,x\n192.0.2.0,192.0.2.9,-5,x\n"),
        ("asn", ""),
        ("country", "192.0.2.0,192.0.2.9,Switzerland\n192.0.2.0\n"),
        ("country", "192.0.2.9,192.0.2.0,CH\n"),
    ],
)
def test_file_without_a_valid_row_is_an_error(tmp_path: Path, role: str, content: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DatabaseError, match=r"bad\.csv has no valid"):
        load_csv_table([path], role)  # type: ignore[arg-type]


def test_one_empty_file_among_good_ones_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "asn-ipv6.csv"
    empty.write_text("\n")
    with pytest.raises(DatabaseError, match="no data rows"):
        load_csv_table([FIXTURES / "asn-ipv4.csv", empty], "asn")


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="cannot read CSV file"):
        load_csv_table([tmp_path / "nope.csv"], "asn")
    with pytest.raises(DatabaseError, match="cannot read CSV file"):
        load_csv_table([tmp_path], "asn")
    with pytest.raises(DatabaseError, match="no asn CSV"):
        load_csv_table([], "asn")
    with pytest.raises(ValueError, match="role"):
        load_csv_table([FIXTURES / "asn-ipv4.csv"], "city")  # type: ignore[arg-type]
