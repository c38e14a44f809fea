"""On-disk form of a :class:`RangeTable`: a small self-describing container, never a pickle.

Layout (little-endian)::

    magic "TATABLE\\0" | u32 format version | u32 header length | u32 header CRC-32 | u32 0
    header: UTF-8 JSON (array directory, columns, IPv4 aliases, user meta, payload CRC-32)
    zero padding to a 64-byte boundary
    payload: the arrays one after another (each 64-byte aligned); xz-compressed in compact mode

Uncompressed files are the per-database cache: one read, then zero-copy ``np.frombuffer`` views.
Compact files are the bundled data: sorted starts are delta-encoded, values stored as ``value + 1``
in the narrowest unsigned type, string lengths instead of offsets, multi-byte arrays byte-shuffled
(all low bytes, then all next bytes...), which lets the compressor see the long zero runs.
String columns are one UTF-8 blob with offsets and a null bitmap, so ``None`` and ``""`` differ.
"""

from __future__ import annotations

import itertools
import json
import lzma
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.rangetable import RECORD_COLUMNS, RangeTable, Records
from trafficatlas.errors import DatabaseError

FORMAT_VERSION = 1
MAGIC = b"TATABLE\x00"
_PREFIX = struct.Struct("<8sIIII")
_ALIGN = 64
# xz at its default preset: on the bundled tables 2.50 MB against 3.03 MB for zlib level 9, for
# 0.15 s instead of 0.07 s to load both (measured), well inside the 0.5 s budget.
_COMPACT_CODEC = "lzma"
_MAX_HEADER = 16 << 20

Meta = dict[str, str | int]
_RANGE_DTYPES = {
    "v4_starts": np.dtype(np.uint32),
    "v4_values": np.dtype(np.int32),
    "v4_prefix": np.dtype(np.uint8),
    "v6_hi": np.dtype(np.uint64),
    "v6_lo": np.dtype(np.uint64),
    "v6_values": np.dtype(np.int32),
    "v6_prefix": np.dtype(np.uint8),
}


@dataclass(slots=True)
class _Entry:
    """One stored array and how to turn it back into its in-memory form."""

    name: str
    data: npt.NDArray[Any]  # as stored
    target: str  # dtype string of the decoded array
    enc: str = "raw"  # raw | delta | plus1 | lengths
    shuffle: bool = False


def save_table(
    table: RangeTable, path: Path, *, compact: bool = False, meta: Meta | None = None
) -> None:
    """Write ``table`` to ``path`` atomically (temp file + rename); ``compact`` for bundled data."""
    meta = dict(meta or {})
    for key, value in meta.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"table meta {key!r} must map str to str or int, got {value!r}")
    entries, columns = _entries(table, compact)
    payload, directory = _pack(entries, compact)
    codec = _COMPACT_CODEC if compact else "none"
    stored = lzma.compress(payload, preset=6) if compact else payload
    header = {
        "arrays": directory,
        "codec": codec,
        "columns": columns,
        "meta": meta,
        "payload_crc32": zlib.crc32(stored),
        "payload_size": len(stored),
        "raw_size": len(payload),
        "records": len(table.records),
        "v4_aliases": list(table.v4_aliases),
    }
    head = json.dumps(header, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(head), zlib.crc32(head), 0)
    pad = b"\x00" * (-(len(prefix) + len(head)) % _ALIGN)
    _write_atomic(Path(path), (prefix, head, pad, stored))


def load_table(path: Path) -> tuple[RangeTable, Meta]:
    """Read a table written by :func:`save_table`; raise DatabaseError if it is not a valid one."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = bytearray(size)
            got = fh.readinto(buf)
    except OSError as exc:
        raise DatabaseError(f"cannot read table file {path}: {exc.strerror or exc}") from None
    if got != size:
        raise DatabaseError(f"table file {path} changed while being read")
    try:
        return _decode(buf, path)
    except DatabaseError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, AttributeError) as exc:
        # Anything structurally wrong that passed the checksums (a writer bug or a crafted file).
        raise DatabaseError(f"table file {path} is corrupt: {exc}") from None


# -- writing -----------------------------------------------------------------------------------


def _entries(table: RangeTable, compact: bool) -> tuple[list[_Entry], list[dict[str, Any]]]:
    entries: list[_Entry] = []
    ranges = {name: np.ascontiguousarray(getattr(table, name)) for name in _RANGE_DTYPES}
    for name, arr in ranges.items():
        if not compact:
            entries.append(_Entry(name, arr, arr.dtype.str))
        elif name in ("v4_starts", "v6_hi"):
            # Sorted, so the wrapped difference is the true (non-negative) gap.
            diff = np.diff(arr, prepend=arr.dtype.type(0)).astype(arr.dtype)
            entries.append(_Entry(name, _narrow(diff), arr.dtype.str, "delta", True))
        elif name.endswith("_values"):
            shifted = arr.astype(np.int64) + 1
            # Not shuffled: record indexes have no high-byte runs and compress better plain.
            entries.append(_Entry(name, _narrow(shifted), arr.dtype.str, "plus1"))
        else:
            entries.append(_Entry(name, arr, arr.dtype.str, "raw", arr.dtype.itemsize > 1))
    columns: list[dict[str, Any]] = []  # a list: the header JSON sorts keys, not columns
    for cname, col in table.records.columns.items():
        col = np.asarray(col)
        if col.dtype == object:
            blob, offsets, null = _encode_strings(cname, col)
            entries.append(_Entry(f"{cname}.blob", blob, "|u1"))
            entries.append(_Entry(f"{cname}.null", np.packbits(null), "|u1"))
            if compact:
                lengths = _narrow(np.diff(offsets))
                entries.append(
                    _Entry(f"{cname}.offsets", lengths, offsets.dtype.str, "lengths", True)
                )
            else:
                entries.append(_Entry(f"{cname}.offsets", offsets, offsets.dtype.str))
            columns.append({"name": cname, "kind": "str", "rows": len(col)})
        else:
            entries.append(_numeric_entry(cname, np.ascontiguousarray(col), compact))
            columns.append({"name": cname, "kind": "num", "rows": len(col)})
    return entries, columns


def _numeric_entry(name: str, arr: npt.NDArray[Any], compact: bool) -> _Entry:
    if not compact:
        return _Entry(name, arr, arr.dtype.str)
    if arr.dtype.kind == "u" and len(arr) > 1 and np.all(arr[1:] >= arr[:-1]):
        # A sorted key column (e.g. records ordered by AS number) shrinks to small gaps.
        diff = np.diff(arr, prepend=arr.dtype.type(0)).astype(arr.dtype)
        return _Entry(name, _narrow(diff), arr.dtype.str, "delta", True)
    return _Entry(name, arr, arr.dtype.str, "raw", arr.dtype.itemsize > 1)


def _encode_strings(
    name: str, col: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[Any], npt.NDArray[np.bool_]]:
    parts: list[bytes] = []
    null = np.zeros(len(col), dtype=bool)
    for i, value in enumerate(col.tolist()):
        if value is None:
            null[i] = True
            parts.append(b"")
        elif isinstance(value, str):
            parts.append(value.encode("utf-8", "surrogatepass"))
        else:
            raise TypeError(f"column {name!r} row {i} holds {type(value).__name__}, not str/None")
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2**31:
        offsets = offsets.astype(np.int32)
    return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets, null


def _narrow(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The same non-negative integers in the smallest unsigned dtype that holds them."""
    top = int(arr.max()) if len(arr) else 0
    if int(arr.min(initial=0)) < 0:
        raise ValueError("cannot narrow negative values")
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if top <= np.iinfo(dt).max:
            return arr.astype(dt)
    raise OverflowError("value does not fit 64 bits")


def _pack(entries: list[_Entry], compact: bool) -> tuple[bytes, list[dict[str, Any]]]:
    chunks: list[bytes] = []
    directory: list[dict[str, Any]] = []
    offset = 0
    for e in entries:
        data = e.data
        raw = _shuffle(data) if e.shuffle else data.tobytes()
        pad = 0 if compact else -offset % _ALIGN
        chunks.append(b"\x00" * pad)
        offset += pad
        directory.append(
            {
                "name": e.name,
                "dtype": data.dtype.str,
                "target": e.target,
                "count": int(data.shape[0]),
                "offset": offset,
                "enc": e.enc,
                "shuffle": e.shuffle,
            }
        )
        chunks.append(raw)
        offset += len(raw)
    return b"".join(chunks), directory


def _shuffle(arr: npt.NDArray[Any]) -> bytes:
    item = arr.dtype.itemsize
    return arr.view(np.uint8).reshape(-1, item).T.tobytes()


def _write_atomic(path: Path, parts: tuple[bytes, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600 files; a table is not secret and may be read by other users.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            for part in parts:
                fh.write(part)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- reading -----------------------------------------------------------------------------------


def _decode(buf: bytearray, path: Path) -> tuple[RangeTable, Meta]:
    if len(buf) < _PREFIX.size or bytes(buf[:8]) != MAGIC:
        kind = "is empty" if not buf else "is not a trafficatlas table file (bad magic)"
        if 0 < len(buf) < 8 and MAGIC.startswith(bytes(buf)):
            kind = "is truncated"
        raise DatabaseError(f"table file {path} {kind}")
    _, version, head_len, head_crc, reserved = _PREFIX.unpack_from(buf)
    if version != FORMAT_VERSION:
        raise DatabaseError(
            f"table file {path} has format version {version}; this trafficatlas reads version "
            f"{FORMAT_VERSION} (rebuild the file or upgrade trafficatlas)"
        )
    if reserved != 0:
        raise DatabaseError(f"table file {path} is corrupt (bad header prefix)")
    if head_len > _MAX_HEADER or _PREFIX.size + head_len > len(buf):
        raise DatabaseError(f"table file {path} is truncated (header)")
    head = bytes(buf[_PREFIX.size : _PREFIX.size + head_len])
    if zlib.crc32(head) != head_crc:
        raise DatabaseError(f"table file {path} is corrupt (header checksum mismatch)")
    header = json.loads(head.decode("utf-8"))
    start = _PREFIX.size + head_len
    pad = -start % _ALIGN
    if any(buf[start : start + pad]):
        raise DatabaseError(f"table file {path} is corrupt (bad header padding)")
    start += pad
    size = int(header["payload_size"])
    if start + size > len(buf):
        raise DatabaseError(f"table file {path} is truncated (payload)")
    if start + size < len(buf):
        raise DatabaseError(f"table file {path} is corrupt (trailing data)")
    stored = memoryview(buf)[start : start + size]
    if zlib.crc32(stored) != int(header["payload_crc32"]):
        raise DatabaseError(f"table file {path} is corrupt (payload checksum mismatch)")
    payload = _decompress(stored, str(header["codec"]), int(header["raw_size"]), path)
    # Compact payloads are a temporary buffer: copy out of it so it can be freed.
    owned = header["codec"] == "none"
    arrays = {d["name"]: _unpack(payload, d, owned) for d in header["arrays"]}
    records = Records()
    for info in header["columns"]:
        cname = str(info["name"])
        rows = int(info["rows"])
        if info["kind"] == "str":
            col = _decode_strings(arrays, cname, rows)
        else:
            col = arrays[cname]
            if cname in RECORD_COLUMNS and col.dtype != np.dtype(RECORD_COLUMNS[cname]):
                raise ValueError(f"column {cname} has dtype {col.dtype}")
        if len(col) != rows:
            raise ValueError(f"column {cname} has {len(col)} rows, expected {rows}")
        records.columns[cname] = col
    table = RangeTable(
        v4_starts=arrays["v4_starts"],
        v4_values=arrays["v4_values"],
        v4_prefix=arrays["v4_prefix"],
        v6_hi=arrays["v6_hi"],
        v6_lo=arrays["v6_lo"],
        v6_values=arrays["v6_values"],
        v6_prefix=arrays["v6_prefix"],
        records=records,
        v4_aliases=tuple(str(a) for a in header["v4_aliases"]),
    )
    _validate(table, int(header["records"]))
    meta = header["meta"]
    if not isinstance(meta, dict):
        raise ValueError("meta is not a mapping")
    return table, meta


def _decompress(stored: memoryview, codec: str, raw_size: int, path: Path) -> memoryview:
    try:
        if codec == "none":
            out = stored
        elif codec == "lzma":
            out = memoryview(lzma.decompress(stored))
        else:
            raise DatabaseError(f"table file {path} uses unknown compression {codec!r}")
    except lzma.LZMAError as exc:
        raise DatabaseError(f"table file {path} is corrupt (cannot decompress: {exc})") from None
    if len(out) != raw_size:
        raise DatabaseError(f"table file {path} is corrupt (payload size mismatch)")
    return out


def _unpack(payload: memoryview, d: dict[str, Any], owned: bool) -> npt.NDArray[Any]:
    dtype = np.dtype(d["dtype"])
    target = np.dtype(d["target"])
    if dtype.kind not in "uif" or target.kind not in "uif":
        raise ValueError(f"array {d['name']} has a non-numeric dtype")
    count = int(d["count"])
    offset = int(d["offset"])
    nbytes = count * dtype.itemsize
    if count < 0 or offset < 0 or offset + nbytes > len(payload):
        raise ValueError(f"array {d['name']} lies outside the payload")
    if d["shuffle"]:
        planes = np.frombuffer(payload, np.uint8, nbytes, offset).reshape(dtype.itemsize, count)
        arr: npt.NDArray[Any] = np.ascontiguousarray(planes.T).view(dtype).reshape(count)
    else:
        arr = np.frombuffer(payload, dtype, count, offset)
    enc = d["enc"]
    if enc == "raw":
        return arr.astype(target, copy=not owned)
    if enc == "delta":
        return np.cumsum(arr, dtype=target)
    if enc == "plus1":
        return (arr.astype(np.int64) - 1).astype(target)
    if enc == "lengths":
        out = np.zeros(count + 1, dtype=target)
        np.cumsum(arr, dtype=target, out=out[1:])
        return out
    raise ValueError(f"array {d['name']} has unknown encoding {enc!r}")


def _decode_strings(arrays: dict[str, npt.NDArray[Any]], name: str, rows: int) -> npt.NDArray[Any]:
    blob = arrays[f"{name}.blob"].tobytes()
    offsets = arrays[f"{name}.offsets"]
    null = np.unpackbits(arrays[f"{name}.null"], count=rows).astype(bool)
    if len(offsets) != rows + 1 or offsets[0] != 0 or offsets[-1] != len(blob):
        raise ValueError(f"string column {name} has inconsistent offsets")
    if rows and np.any(np.diff(offsets) < 0):
        raise ValueError(f"string column {name} has decreasing offsets")
    bounds = offsets.tolist()
    if blob.isascii():
        # One decode then str slicing: byte offsets equal character offsets for ASCII.
        text = blob.decode("ascii")
        values: list[str | None] = [text[a:b] for a, b in itertools.pairwise(bounds)]
    else:
        values = [blob[a:b].decode("utf-8", "surrogatepass") for a, b in itertools.pairwise(bounds)]
    col = np.empty(rows, dtype=object)
    col[:] = values
    if null.any():
        col[null] = None
    return col


def _validate(table: RangeTable, nrec: int) -> None:
    """Reject tables whose lookups could index out of bounds or answer wrongly."""
    for name, dtype in _RANGE_DTYPES.items():
        if getattr(table, name).dtype != dtype:
            raise ValueError(f"{name} has dtype {getattr(table, name).dtype}")
    n4 = len(table.v4_starts)
    n6 = len(table.v6_hi)
    if len(table.v4_values) != n4 or len(table.v4_prefix) != n4:
        raise ValueError("IPv4 arrays differ in length")
    if len(table.v6_lo) != n6 or len(table.v6_values) != n6 or len(table.v6_prefix) != n6:
        raise ValueError("IPv6 arrays differ in length")
    if len(table.records) != nrec:
        raise ValueError(f"records hold {len(table.records)} rows, expected {nrec}")
    if n4 > 1 and not np.all(table.v4_starts[1:] > table.v4_starts[:-1]):
        raise ValueError("IPv4 starts are not increasing")
    if n6 > 1:
        up = table.v6_hi[1:] > table.v6_hi[:-1]
        same = table.v6_hi[1:] == table.v6_hi[:-1]
        if not np.all(up | (same & (table.v6_lo[1:] > table.v6_lo[:-1]))):
            raise ValueError("IPv6 starts are not increasing")
    for values in (table.v4_values, table.v6_values):
        if len(values) and (values.min() < -1 or values.max() >= nrec):
            raise ValueError("a range points outside the records")
