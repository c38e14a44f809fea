"""Bad .mmdb input: every problem is a DatabaseError naming the file, never a traceback or hang."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from trafficatlas.enrich.mmdb import METADATA_MARKER, build_table, read_metadata
from trafficatlas.errors import DatabaseError

from support.mmdb_fixtures import write_geo_db, write_raw_mmdb


def expect_error(path: Path, match: str) -> DatabaseError:
    with pytest.raises(DatabaseError, match=match) as info:
        build_table(path)
    assert str(path) in str(info.value)
    return info.value


def build_or_error(path: Path) -> str:
    """Corrupt input may still read as some table; anything but a DatabaseError is a bug.

    Returns "ok" or the error message.
    """
    start = time.monotonic()
    outcome = "ok"
    try:
        build_table(path)
    except DatabaseError as exc:
        outcome = str(exc)
    assert time.monotonic() - start < 10, "reading a corrupt file must not hang"
    assert outcome == "ok" or str(path) in outcome
    return outcome


@pytest.fixture
def good_db(tmp_path: Path) -> bytes:
    return write_geo_db(tmp_path / "good.mmdb", "maxmind").read_bytes()


# -- paths and files that are not databases ---------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.mmdb", "not found")
    with pytest.raises(DatabaseError, match=r"nope\.mmdb: database file not found"):
        read_metadata(tmp_path / "nope.mmdb")


def test_directory(tmp_path: Path) -> None:
    expect_error(tmp_path, "is a directory")


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a database\n" * 100, random.Random(1).randbytes(50_000)],
    ids=["empty", "text", "random"],
)
def test_not_a_database(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.mmdb"
    path.write_bytes(content)
    expect_error(path, "not a MaxMind DB file")
    with pytest.raises(DatabaseError, match="not a MaxMind DB file"):
        read_metadata(path)


# -- truncation -------------------------------------------------------------------------------


def test_truncated_metadata(tmp_path: Path, good_db: bytes) -> None:
    path = tmp_path / "cut.mmdb"
    for cut in (1, 5, 20):
        path.write_bytes(good_db[:-cut])
        expect_error(path, "corrupt metadata")


def test_truncated_before_the_metadata(tmp_path: Path, good_db: bytes) -> None:
    path = tmp_path / "half.mmdb"
    path.write_bytes(good_db[: len(good_db) // 2])
    expect_error(path, "not a MaxMind DB file")


def test_search_tree_cut_out(tmp_path: Path, good_db: bytes) -> None:
    marker = good_db.rfind(METADATA_MARKER)
    path = tmp_path / "short-tree.mmdb"
    path.write_bytes(good_db[:60] + good_db[marker:])
    expect_error(path, "truncated or corrupt: the search tree")


def test_data_section_cut_short(tmp_path: Path, good_db: bytes) -> None:
    meta_at = good_db.rfind(METADATA_MARKER)
    tree_end = read_metadata(_write(tmp_path / "g.mmdb", good_db)).search_tree_size + 16
    path = tmp_path / "short-data.mmdb"
    for keep in (0, 10, (meta_at - tree_end) // 2):
        path.write_bytes(good_db[: tree_end + keep] + good_db[meta_at:])
        expect_error(path, "corrupt (search tree|data section)")


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# -- corrupt search trees ---------------------------------------------------------------------


def test_record_points_past_the_data_section(tmp_path: Path) -> None:
    path = write_raw_mmdb(tmp_path / "far.mmdb", b"\x41x", left=0, right=500)
    expect_error(path, "points outside the data section")


def test_record_between_node_count_and_data_start(tmp_path: Path) -> None:
    # node_count 1: values 2..16 would give negative data offsets
    path = write_raw_mmdb(tmp_path / "gap.mmdb", b"\x41x", tree=(5).to_bytes(3, "big") * 2)
    expect_error(path, "points outside the data section")


def test_tree_cycle(tmp_path: Path) -> None:
    # both records of the root point back at the root: an endless tree
    path = write_raw_mmdb(tmp_path / "cycle.mmdb", b"\x41x", tree=bytes(6))
    expect_error(path, "corrupt search tree")


def test_ipv6_tree_cycle_is_bounded(tmp_path: Path) -> None:
    path = write_raw_mmdb(
        tmp_path / "cycle6.mmdb", b"\x41x", tree=bytes(6), metadata={"ip_version": 6}
    )
    expect_error(path, "corrupt search tree")


# -- corrupt data sections --------------------------------------------------------------------

BAD_DATA = {
    "pointer cycle": (b"\x20\x00", "pointer cycle"),
    "pointer loop through a map": (b"\xe1\x41k\x20\x00", "pointer cycle"),
    "string past the end": (b"\x45AB", "runs past the end"),
    "invalid utf-8": (b"\xe1\x41k\x42\xff\xfe", "UTF-8"),
    "map key not a string": (b"\xe1\xa1\x01\x41x", "map key"),
    "double of 3 bytes": (b"\xe1\x41k\x63\x00\x00\x00", "double of size 3"),
    "uint16 of 3 bytes": (b"\xe1\x41k\xa3\x00\x00\x00", "integer of 3 bytes"),
    "data cache container": (b"\x00\x05", "invalid data type 12"),
    "end marker": (b"\xe1\x41k\x00\x06", "invalid data type 13"),
    "unknown extended type": (b"\x00\x40", "invalid data type 71"),
    "deep nesting": (b"\x01\x04" * 200 + b"\x41x", "nested"),
    "map runs past the end": (b"\xe3\x41k\x41v", "past the end"),
    "all 0xff": (b"\xff" * 64, "corrupt data section"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_corrupt_data_section(tmp_path: Path, case: str) -> None:
    data, match = BAD_DATA[case]
    path = write_raw_mmdb(tmp_path / "bad-data.mmdb", data)
    error = expect_error(path, match)
    assert "corrupt data section" in str(error)


def test_records_that_are_not_maps(tmp_path: Path) -> None:
    path = write_raw_mmdb(tmp_path / "strings.mmdb", b"\x41x\x41y", left=0, right=2)
    expect_error(path, "records are not maps")


# -- corrupt metadata -------------------------------------------------------------------------

BAD_METADATA = {
    "record size 20": ({"record_size": 20}, "unsupported record size 20"),
    "ip version 5": ({"ip_version": 5}, "ip_version is 5"),
    "format 3": ({"binary_format_major_version": 3}, "unsupported MaxMind DB format version 3"),
    "no node count": ({"node_count": None}, "node_count is missing"),
    "zero nodes": ({"node_count": 0}, "node_count is 0"),
    "huge tree": ({"node_count": 10**6}, "does not fit before the metadata"),
}


@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_corrupt_metadata(tmp_path: Path, case: str) -> None:
    meta, match = BAD_METADATA[case]
    path = write_raw_mmdb(tmp_path / "bad-meta.mmdb", b"\xe0", metadata=meta)
    expect_error(path, match)
    with pytest.raises(DatabaseError, match=match):
        read_metadata(path)


def test_metadata_that_is_not_a_map(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.mmdb", bytes(22) + METADATA_MARKER + b"\x43abc")
    expect_error(path, "corrupt metadata: not a map")


# -- fuzzing ----------------------------------------------------------------------------------


def test_flipped_bytes_never_crash(tmp_path: Path, good_db: bytes) -> None:
    rng = random.Random(42)
    marker = good_db.rfind(METADATA_MARKER)
    path = tmp_path / "flipped.mmdb"
    outcomes = []
    for _ in range(300):
        blob = bytearray(good_db)
        for _ in range(rng.randint(1, 12)):
            blob[rng.randrange(marker)] = rng.randrange(256)  # tree and data only
        path.write_bytes(bytes(blob))
        outcomes.append(build_or_error(path))
    assert "ok" in outcomes
    assert any("corrupt search tree" in o for o in outcomes)
    assert any("corrupt data section" in o for o in outcomes)


def pack_tree(records: list[int], record_size: int) -> bytes:
    """Search tree bytes for (left, right, left, right, ...) record values."""
    out = bytearray()
    for left, right in zip(records[::2], records[1::2], strict=True):
        if record_size == 24:
            out += left.to_bytes(3, "big") + right.to_bytes(3, "big")
        elif record_size == 28:
            middle = ((left >> 24) << 4) | (right >> 24)
            out += (left & 0xFFFFFF).to_bytes(3, "big") + bytes([middle])
            out += (right & 0xFFFFFF).to_bytes(3, "big")
        else:
            out += left.to_bytes(4, "big") + right.to_bytes(4, "big")
    return bytes(out)


def random_tree(rng: random.Random, nodes: int, leaves: list[int]) -> list[int]:
    """Records of a valid random tree: every node but the root is the child of an earlier one;
    other records are empty or point at one of the ``leaves`` data offsets."""
    records: list[int | None] = [None] * (2 * nodes)
    for child in range(1, nodes):
        free = [slot for slot in range(2 * child) if records[slot] is None]
        records[rng.choice(free)] = child
    return [
        r if r is not None else rng.choice([nodes, nodes + 16 + rng.choice(leaves)])
        for r in records
    ]


def test_random_tree_and_data_never_crash(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "random.mmdb"
    outcomes: dict[str, list[str]] = {"random": [], "valid": [], "bad data": [], "bad tree": []}
    for i in range(240):
        mode = list(outcomes)[i % 4]
        record_size = rng.choice([24, 28, 32])
        nodes = rng.randint(1, 120)
        codes = [rng.choice(["DE", "FR", "JP", "ZZ"]).encode() for _ in range(rng.randint(1, 9))]
        data = b"".join(b"\xe1\x4ccountry_code\x42" + code for code in codes)
        leaves = [17 * k for k in range(len(codes))]  # each map is 17 bytes
        if mode == "bad data":
            data = rng.randbytes(len(data))
        records = random_tree(rng, nodes, leaves)
        if mode == "bad tree":
            for _ in range(rng.randint(1, 3)):
                records[rng.randrange(len(records))] = rng.randrange(nodes + 16 + len(data) + 9)
        tree = pack_tree(records, record_size)
        if mode == "random":
            tree = rng.randbytes(len(tree))
        meta = {"node_count": nodes, "record_size": record_size, "ip_version": rng.choice([4, 6])}
        outcomes[mode].append(build_or_error(write_raw_mmdb(path, data, tree=tree, metadata=meta)))
    assert set(outcomes["valid"]) == {"ok"}
    everything = [o for found in outcomes.values() for o in found]
    assert any("corrupt search tree" in o for o in everything)
    assert any("corrupt data section" in o for o in everything)
