import os
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trafficatlas.enrich.rangetable import (
    PREFIX_FROM_RANGE,
    RangeTable,
    Records,
    build_v4,
    build_v6,
    empty_table,
)
from trafficatlas.enrich.tablefile import FORMAT_VERSION, MAGIC, load_table, save_table
from trafficatlas.errors import DatabaseError
from trafficatlas.net import parse_ips

MODES = [pytest.param(False, id="plain"), pytest.param(True, id="compact")]
TOP32 = 0xFFFF_FFFF
TOP128 = (1 << 128) - 1


def _strings(values: list[str | None]) -> np.ndarray[Any, np.dtype[Any]]:
    col = np.empty(len(values), dtype=object)
    col[:] = values
    return col


def _table(*, sorted_asn: bool = True) -> RangeTable:
    """Every record column type, ranges touching both ends of both address spaces."""
    s4, v4, p4 = build_v4(
        np.array([0xC000_0200, 0xC000_0280, 0xCB00_7100, TOP32 - 15]),
        np.array([0xC000_027F, 0xC000_02FF, 0xCB00_71FF, TOP32]),
        np.array([0, 1, 2, 3]),
        np.array([25, 25, PREFIX_FROM_RANGE, 28]),
    )
    doc = 0x2001_0DB8 << 96
    h6, l6, v6, p6 = build_v6(
        [doc, doc + (1 << 80), TOP128 - 255],
        [doc + (1 << 80) - 1, doc + (1 << 81) - 1, TOP128],
        np.array([4, 0, 1]),
        np.array([48, PREFIX_FROM_RANGE, 120]),
    )
    asn = [64496, 64497, 64500, 65536, 65551] if sorted_asn else [65551, 64496, 64500, 1, 64497]
    records = Records(
        {
            "country": np.array([0x4348, 0x5553, 0, 0x4A50, 0x4445], dtype=np.uint16),
            "city": _strings(["Zürich", "", None, "東京", "Köln 🏙"]),
            "region": _strings([None, None, "", "x", "Île-de-France"]),
            "latitude": np.array([47.37, np.nan, 0.0, 35.68, -1e-300]),
            "longitude": np.array([8.54, np.nan, -0.0, 139.76, 1e300]),
            "asn": np.array(asn, dtype=np.uint32),
            "as_org": _strings(["Example, Inc.", None, "", "Ünïcode GmbH", "x" * 70_000]),
        }
    )
    return RangeTable(s4, v4, p4, h6, l6, v6, p6, records, v4_aliases=("::ffff:0:0/96", "::/96"))


def _assert_same(a: RangeTable, b: RangeTable) -> None:
    for name in ("v4_starts", "v4_values", "v4_prefix", "v6_hi", "v6_lo", "v6_values", "v6_prefix"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.v4_aliases == b.v4_aliases
    assert list(a.records.columns) == list(b.records.columns)
    for name, col in a.records.columns.items():
        got = b.records.columns[name]
        assert got.dtype == col.dtype, name
        if col.dtype == object:
            assert [type(v) for v in got] == [type(v) for v in col], name
            assert got.tolist() == col.tolist(), name
        else:
            # Bit-exact, so NaN, -0.0 and denormals survive as they were.
            assert got.tobytes() == col.tobytes(), name


@pytest.mark.parametrize("compact", MODES)
@pytest.mark.parametrize("sorted_asn", [True, False])
def test_round_trip_every_column(tmp_path: Path, compact: bool, sorted_asn: bool) -> None:
    table = _table(sorted_asn=sorted_asn)
    meta: dict[str, str | int] = {"source": "Ünïcode db", "build_epoch": 1_700_000_000, "e": ""}
    path = tmp_path / "t.tat"
    save_table(table, path, compact=compact, meta=meta)
    loaded, got_meta = load_table(path)
    _assert_same(table, loaded)
    assert got_meta == meta
    city = loaded.records.columns["city"]
    assert city[1] == ""
    assert city[2] is None


@pytest.mark.parametrize("compact", MODES)
def test_round_trip_answers_lookups_alike(tmp_path: Path, compact: bool) -> None:
    table = _table()
    save_table(table, tmp_path / "t.tat", compact=compact)
    loaded, _ = load_table(tmp_path / "t.tat")
    texts = ["192.0.2.1", "192.0.2.200", "203.0.113.9", "255.255.255.255", "10.0.0.1"]
    texts += ["2001:db8::1", "2001:db8:0:1::5", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "::1"]
    texts += ["::192.0.2.7"]
    v, h, lo = parse_ips(texts)
    for want, got in zip(table.lookup(v, h, lo), loaded.lookup(v, h, lo), strict=True):
        np.testing.assert_array_equal(want, got)
    values = loaded.lookup(v, h, lo)[0]
    assert values[0] == 0
    assert values[-1] == 0


@pytest.mark.parametrize("compact", MODES)
def test_round_trip_empty_table(tmp_path: Path, compact: bool) -> None:
    table = empty_table()
    save_table(table, tmp_path / "e.tat", compact=compact)
    loaded, meta = load_table(tmp_path / "e.tat")
    _assert_same(table, loaded)
    assert meta == {}
    assert len(loaded.records) == 0


def test_compact_is_smaller_and_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    starts = np.unique(rng.integers(0, 1 << 32, 50_000, dtype=np.uint64))
    ends = np.append(starts[1:] - 1, TOP32)
    s4, v4, p4 = build_v4(starts, ends, rng.integers(0, 200, len(starts)))
    h6, l6, v6, p6 = build_v6([0], [TOP128], np.array([0]))
    records = Records({"country": np.arange(200, dtype=np.uint16)})
    table = RangeTable(s4, v4, p4, h6, l6, v6, p6, records)
    save_table(table, tmp_path / "plain.tat")
    save_table(table, tmp_path / "a.tat", compact=True)
    save_table(table, tmp_path / "b.tat", compact=True)
    assert (tmp_path / "a.tat").stat().st_size < (tmp_path / "plain.tat").stat().st_size / 2
    assert (tmp_path / "a.tat").read_bytes() == (tmp_path / "b.tat").read_bytes()
    _assert_same(table, load_table(tmp_path / "a.tat")[0])


def test_save_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "db.tat"
    save_table(empty_table(), path, meta={"n": 1})
    save_table(_table(), path, meta={"n": 2})
    assert load_table(path)[1] == {"n": 2}
    assert os.listdir(path.parent) == ["db.tat"]  # no temp file left behind
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_rejects_bad_meta_and_columns(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="meta"):
        save_table(empty_table(), tmp_path / "x.tat", meta={"flag": True})
    bad = empty_table(Records({"city": _strings(["ok"])}))
    bad.records.columns["city"][0] = 3
    with pytest.raises(TypeError, match="city"):
        save_table(bad, tmp_path / "x.tat")
    assert not (tmp_path / "x.tat").exists()


# -- bad files ---------------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["plain", "compact"])
def saved(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "good.tat"
    save_table(_table(), path, compact=request.param, meta={"source": "test"})
    return path


def test_every_truncation_is_a_database_error(saved: Path, tmp_path: Path) -> None:
    data = saved.read_bytes()
    cut = tmp_path / "cut.tat"
    for size in sorted({0, 1, 7, 8, 12, 23, 24, 40, 100, len(data) // 2, len(data) - 1}):
        cut.write_bytes(data[:size])
        with pytest.raises(DatabaseError, match=r"cut\.tat"):
            load_table(cut)


def test_flipped_bytes_are_database_errors(saved: Path, tmp_path: Path) -> None:
    data = saved.read_bytes()
    bad = tmp_path / "bad.tat"
    for pos in range(8, len(data), max(1, len(data) // 97)):
        flipped = bytearray(data)
        flipped[pos] ^= 0x5A
        bad.write_bytes(bytes(flipped))
        with pytest.raises(DatabaseError, match=r"bad\.tat"):
            load_table(bad)


def test_trailing_garbage_is_rejected(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes() + b"\x00")
    with pytest.raises(DatabaseError, match="trailing"):
        load_table(saved)


def test_unknown_format_version_is_named(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    struct.pack_into("<I", data, len(MAGIC), FORMAT_VERSION + 98)
    saved.write_bytes(bytes(data))
    with pytest.raises(DatabaseError, match=f"format version {FORMAT_VERSION + 98}"):
        load_table(saved)


def test_other_files_are_rejected(tmp_path: Path) -> None:
    csv_file = tmp_path / "asn.csv"
    csv_file.write_text("1.0.0.0,1.0.0.255,13335,Example\n")
    with pytest.raises(DatabaseError, match="not a trafficatlas table"):
        load_table(csv_file)
    npy = tmp_path / "arr.npy"
    np.save(npy, np.arange(10))
    with pytest.raises(DatabaseError, match="not a trafficatlas table"):
        load_table(npy)
    with pytest.raises(DatabaseError, match="cannot read"):
        load_table(tmp_path / "missing.tat")
    with pytest.raises(DatabaseError, match="cannot read"):
        load_table(tmp_path)


def test_consistent_checksums_but_bad_indexes_are_rejected(tmp_path: Path) -> None:
    # A writer bug (value beyond the records) must not turn into an IndexError at lookup time.
    table = _table()
    table.v4_values[1] = len(table.records) + 5
    save_table(table, tmp_path / "t.tat")
    with pytest.raises(DatabaseError, match="outside the records"):
        load_table(tmp_path / "t.tat")


def test_unsorted_starts_are_rejected(tmp_path: Path) -> None:
    table = _table()
    table.v6_lo[1], table.v6_lo[2] = table.v6_lo[2], table.v6_lo[1]
    table.v6_hi[1], table.v6_hi[2] = table.v6_hi[2], table.v6_hi[1]
    save_table(table, tmp_path / "t.tat", compact=True)
    with pytest.raises(DatabaseError, match="not increasing"):
        load_table(tmp_path / "t.tat")


def test_three_million_ranges_load_fast(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    starts = np.unique(rng.integers(1, 1 << 32, 3_100_000, dtype=np.uint64)).astype(np.uint32)
    starts[0] = 0
    n = len(starts)
    assert n > 3_000_000
    orgs = _strings([f"AS{i} Örg" for i in range(80_000)])
    table = RangeTable(
        starts,
        rng.integers(-1, 80_000, n).astype(np.int32),
        np.full(n, PREFIX_FROM_RANGE, np.uint8),
        np.array([0, 1 << 61], np.uint64),
        np.zeros(2, np.uint64),
        np.array([-1, 5], np.int32),
        np.array([0, 3], np.uint8),
        Records({"asn": np.arange(80_000, dtype=np.uint32), "as_org": orgs}),
    )
    path = tmp_path / "big.tat"
    save_table(table, path)
    best = min(_timed(path) for _ in range(3))
    assert best < 0.5, f"loading 3M ranges took {best:.3f} s"
    loaded, _ = load_table(path)
    np.testing.assert_array_equal(loaded.v4_starts, starts)
    assert loaded.records.columns["as_org"][79_999] == "AS79999 Örg"


def _timed(path: Path) -> float:
    t0 = time.perf_counter()
    load_table(path)
    return time.perf_counter() - t0
