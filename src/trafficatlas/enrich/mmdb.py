"""Read any MaxMind-format (.mmdb) database into a :class:`RangeTable`, fast.

The search tree is walked level by level with NumPy (:mod:`.mmdb_tree`), only the distinct data
offsets its leaves point at are decoded (:mod:`.mmdb_data`), and the records' shape decides how
they become columns (:mod:`.mmdb_schema`). Every problem with the file is a
:class:`~trafficatlas.errors.DatabaseError` naming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.mmdb_data import CorruptDataError, DataSection
from trafficatlas.enrich.mmdb_fields import FieldReader
from trafficatlas.enrich.mmdb_schema import ROLE_COLUMNS, build_records, detect_schema
from trafficatlas.enrich.mmdb_tree import CorruptTreeError, TreeLeaves, walk_tree
from trafficatlas.enrich.rangetable import (
    RangeTable,
    Records,
    build_v4,
    build_v6_split,
    empty_table,
)
from trafficatlas.errors import DatabaseError

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
# The spec caps the metadata (marker included) at 128 KiB, so the marker is searched only there.
METADATA_MAX_SIZE = 128 * 1024
SCHEMA_SAMPLE = 5_000  # records decoded in full to recognise the schema
_ALL64 = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


@dataclass(frozen=True, slots=True)
class MMDBMetadata:
    """The metadata map of a .mmdb file."""

    node_count: int
    record_size: int
    ip_version: int
    database_type: str
    build_epoch: int
    languages: tuple[str, ...] = ()
    description: dict[str, str] = field(default_factory=dict, hash=False)
    binary_format_major_version: int = 2
    binary_format_minor_version: int = 0

    @property
    def search_tree_size(self) -> int:
        """Bytes taken by the search tree (two records per node)."""
        return self.node_count * self.record_size // 4


def read_metadata(path: Path) -> MMDBMetadata:
    """Metadata of the .mmdb file at ``path`` (reads only the end of the file)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = max(0, size - METADATA_MAX_SIZE)
            fh.seek(start)
            tail = fh.read()
    except OSError as exc:
        raise _os_error(path, exc) from None
    meta, meta_at = _parse_metadata(tail, path)
    _check_layout(meta, start + meta_at, path)
    return meta


def build_table(path: Path, role: str = "auto") -> tuple[RangeTable, MMDBMetadata, str]:
    """Range table of every network in the .mmdb at ``path``, its metadata and schema name.

    ``role`` ("auto", "country", "city" or "asn") limits the record columns kept. The schema is
    "maxmind", "flat" or "ipinfo" ("empty" for a database without any network).
    """
    if role not in ROLE_COLUMNS:
        raise ValueError(f"unknown database role {role!r} (expected one of {list(ROLE_COLUMNS)})")
    buf = _read_file(path)
    tail_start = max(0, len(buf) - METADATA_MAX_SIZE)
    meta, meta_at = _parse_metadata(buf[tail_start:], path)
    meta_start = tail_start + meta_at
    _check_layout(meta, meta_start, path)
    data_start = meta.search_tree_size + 16
    tree = np.frombuffer(buf, dtype=np.uint8, count=meta.search_tree_size)
    try:
        leaves = walk_tree(
            tree, meta.node_count, meta.record_size, meta.ip_version, meta_start - data_start
        )
    except CorruptTreeError as exc:
        raise DatabaseError(f"{path}: corrupt search tree: {exc}") from None

    offsets = np.concatenate((leaves.v4.offset, leaves.v6.offset))
    distinct, value_index = _distinct(offsets, meta_start - data_start)
    section = DataSection(buf[data_start:meta_start])
    try:
        # The shape of a sample of fully decoded records decides the schema.
        step = max(1, len(distinct) // SCHEMA_SAMPLE)
        schema = detect_schema(section.values_at(distinct[::step].tolist()))
        if schema is None:
            if len(distinct):
                raise DatabaseError(f"{path}: records are not maps; not a GeoIP or ASN database")
            return empty_table(), meta, "empty"
        records = build_records(FieldReader(section), distinct, schema, role)
    except CorruptDataError as exc:
        raise DatabaseError(f"{path}: corrupt data section: {exc}") from None
    if not records.columns:
        wanted = ", ".join(ROLE_COLUMNS[role])
        raise DatabaseError(
            f"{path}: no usable {role if role != 'auto' else 'GeoIP/ASN'} fields in its "
            f"{schema}-schema records (looked for {wanted})"
        )
    n4 = len(leaves.v4)
    table = _range_table(leaves, value_index[:n4], value_index[n4:], records)
    return table, meta, schema


# -- file and metadata ----------------------------------------------------------------------------


def _read_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _os_error(path, exc) from None


def _os_error(path: Path, exc: OSError) -> DatabaseError:
    if isinstance(exc, IsADirectoryError):
        return DatabaseError(f"{path}: is a directory, not a .mmdb database file")
    if isinstance(exc, FileNotFoundError):
        return DatabaseError(f"{path}: database file not found")
    return DatabaseError(f"{path}: cannot read database: {exc.strerror or exc}")


def _parse_metadata(tail: bytes, path: Path) -> tuple[MMDBMetadata, int]:
    """Metadata decoded after the last marker in ``tail``, and where the marker starts."""
    at = tail.rfind(METADATA_MARKER)
    if at < 0:
        raise DatabaseError(
            f"{path}: not a MaxMind DB file "
            "(no metadata marker: empty, truncated or another format)"
        )
    section = DataSection(tail[at + len(METADATA_MARKER) :])
    try:
        raw = section.value_at(0)
    except (CorruptDataError, RecursionError) as exc:
        raise DatabaseError(f"{path}: corrupt metadata: {exc}") from None
    if type(raw) is not dict:
        raise DatabaseError(f"{path}: corrupt metadata: not a map")
    return _metadata_from_map(raw, path), at


def _metadata_from_map(raw: dict[str, Any], path: Path) -> MMDBMetadata:
    def uint(key: str, default: int | None = None) -> int:
        value = raw.get(key, default)
        if type(value) is not int or value < 0:
            shown = "missing" if value is None else repr(value)
            raise DatabaseError(f"{path}: corrupt metadata: {key} is {shown}")
        return value

    languages = raw.get("languages") or []
    description = raw.get("description") or {}
    if type(languages) is not list or type(description) is not dict:
        raise DatabaseError(f"{path}: corrupt metadata: bad languages or description")
    database_type = raw.get("database_type", "")
    meta = MMDBMetadata(
        node_count=uint("node_count"),
        record_size=uint("record_size"),
        ip_version=uint("ip_version"),
        database_type=database_type if type(database_type) is str else str(database_type),
        build_epoch=uint("build_epoch", 0),
        languages=tuple(str(x) for x in languages),
        description={str(k): str(v) for k, v in description.items()},
        binary_format_major_version=uint("binary_format_major_version", 2),
        binary_format_minor_version=uint("binary_format_minor_version", 0),
    )
    if meta.binary_format_major_version != 2:
        raise DatabaseError(
            f"{path}: unsupported MaxMind DB format version "
            f"{meta.binary_format_major_version}.{meta.binary_format_minor_version} (need 2.x)"
        )
    if meta.record_size not in (24, 28, 32):
        raise DatabaseError(f"{path}: unsupported record size {meta.record_size} (24, 28 or 32)")
    if meta.ip_version not in (4, 6):
        raise DatabaseError(f"{path}: corrupt metadata: ip_version is {meta.ip_version}")
    if meta.node_count == 0:
        raise DatabaseError(f"{path}: corrupt metadata: node_count is 0")
    return meta


def _check_layout(meta: MMDBMetadata, meta_start: int, path: Path) -> None:
    need = meta.search_tree_size + 16
    if need > meta_start:
        raise DatabaseError(
            f"{path}: truncated or corrupt: the search tree ({meta.node_count} nodes, "
            f"{meta.search_tree_size} bytes) does not fit before the metadata at byte {meta_start}"
        )


def _distinct(
    offsets: npt.NDArray[np.int64], data_size: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Sorted distinct offsets and each offset's index among them.

    Offsets are bounded by the data section size, so a bitmap replaces np.unique's sort.
    """
    seen = np.zeros(data_size + 1, dtype=bool)
    seen[offsets] = True
    distinct = np.flatnonzero(seen).astype(np.int64)
    index = np.cumsum(seen, dtype=np.int32) - 1
    return distinct, index[offsets]


# -- range arrays -----------------------------------------------------------------------------


def _range_table(
    leaves: TreeLeaves,
    v4_values: npt.NDArray[np.int32],
    v6_values: npt.NDArray[np.int32],
    records: Records,
) -> RangeTable:
    v4, v6 = leaves.v4, leaves.v6
    v4_start = v4.lo
    v4_end = v4_start + (np.uint64(1) << (np.uint64(32) - v4.prefix.astype(np.uint64)))
    v4_starts, v4_vals, v4_prefix = build_v4(v4_start, v4_end - np.uint64(1), v4_values, v4.prefix)
    p = v6.prefix.astype(np.uint64)
    # Host-part masks of each half; shifts stay below 64 (NumPy shifts by 64 are undefined).
    mask_hi = np.where(p >= 64, np.uint64(0), _ALL64 >> np.minimum(p, np.uint64(63)))
    lo_shift = np.clip(p.astype(np.int64) - 64, 0, 63).astype(np.uint64)
    mask_lo = np.where(p >= 128, np.uint64(0), _ALL64 >> lo_shift)
    v6_hi, v6_lo, v6_vals, v6_prefix = build_v6_split(
        v6.hi,
        v6.lo,
        v6.hi | mask_hi,
        v6.lo | mask_lo,
        v6_values.astype(np.int32),
        v6.prefix,
    )
    return RangeTable(
        v4_starts=v4_starts,
        v4_values=v4_vals,
        v4_prefix=v4_prefix,
        v6_hi=v6_hi,
        v6_lo=v6_lo,
        v6_values=v6_vals,
        v6_prefix=v6_prefix,
        records=records,
        v4_aliases=leaves.v4_aliases,
    )
