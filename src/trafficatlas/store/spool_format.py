"""The spool's file format: one flush (AggregateRows) or flow-detail batch (FlowRecords) per file.

A compressed NumPy ``.npz`` archive (a zip of ``.npy`` members whose CRCs are checked on read),
loaded with ``allow_pickle=False``: text columns are dictionary-encoded as UTF-8 bytes, offsets
and one code per row, so no Python object is ever unpickled. The ``meta`` member (JSON) holds the
format version, the kind, the flush id and the row count. Every member is checked on read: a
damaged file raises DecodeError(kind="spool_corrupt"), never half a batch.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.errors import DecodeError
from trafficatlas.store.flows import FlowRecords

FORMAT_VERSION = 1
BatchKind = Literal["rows", "flows"]
CORRUPT = "spool_corrupt"
Arrays = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """One spooled batch: aggregated rows with their flush id, or flow-detail records."""

    kind: BatchKind
    flush_id: str | None
    rows: AggregateRows | None = None
    flows: FlowRecords | None = None

    @classmethod
    def of_rows(cls, rows: AggregateRows, flush_id: str | None) -> SpoolBatch:
        return cls("rows", flush_id, rows=rows)

    @classmethod
    def of_flows(cls, flows: FlowRecords) -> SpoolBatch:
        return cls("flows", None, flows=flows)

    def __len__(self) -> int:
        if self.rows is not None:
            return len(self.rows)
        return len(self.flows) if self.flows is not None else 0


def write_batch(fh: IO[bytes], batch: SpoolBatch) -> None:
    """Write ``batch`` to the open binary file ``fh`` (the caller syncs and renames)."""
    arrays: Arrays = {}
    meta = {"version": FORMAT_VERSION, "kind": batch.kind, "flush_id": batch.flush_id}
    if batch.rows is not None:
        rows = batch.rows
        _pack_columns(arrays, AggregateRows.DTYPES, rows)
        arrays["o.asn"] = np.fromiter(rows.as_orgs.keys(), dtype=np.uint32, count=len(rows.as_orgs))
        _pack_text(arrays, "o.org", _objects(rows.as_orgs.values()))
        _pack_text(arrays, "c.country", _objects(k[0] for k in rows.cities))
        _pack_text(arrays, "c.city", _objects(k[1] for k in rows.cities))
        coords = np.array(list(rows.cities.values()), dtype=np.float64).reshape(-1, 2)
        arrays["c.lat"] = np.ascontiguousarray(coords[:, 0])
        arrays["c.lon"] = np.ascontiguousarray(coords[:, 1])
    elif batch.flows is not None:
        _pack_columns(arrays, FlowRecords.DTYPES, batch.flows)
    else:
        raise ValueError("a spool batch holds rows or flow records")
    meta["rows"] = len(batch)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(fh, allow_pickle=False, **arrays)


def read_batch(path: Path) -> SpoolBatch:
    """The batch stored in ``path``; DecodeError(kind="spool_corrupt") if it is damaged."""
    try:
        # Our own handle: np.load leaks the one it opens when the zip directory is damaged.
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise DecodeError(f"spool file {path.name} is not an archive", kind=CORRUPT)
            return _decode(archive)
    except DecodeError:
        raise
    except Exception as exc:  # any failure to read our own file means it is damaged
        raise DecodeError(
            f"spool file {path.name} is unreadable: {type(exc).__name__}: {exc}", kind=CORRUPT
        ) from None


# -- encoding ------------------------------------------------------------------------------------


def _objects(values: Any) -> npt.NDArray[Any]:
    out = np.empty(0, dtype=object)
    items = list(values)
    if items:
        out = np.empty(len(items), dtype=object)
        out[:] = items
    return out


def _pack_columns(arrays: Arrays, dtypes: dict[str, Any], table: Any) -> None:
    for name, dt in dtypes.items():
        col = getattr(table, name)
        if dt is object:
            _pack_text(arrays, f"t.{name}", col, codes=True)
        else:
            arrays[f"n.{name}"] = np.ascontiguousarray(col, dtype=dt)


def _pack_text(arrays: Arrays, key: str, values: npt.NDArray[Any], codes: bool = False) -> None:
    """Text as its distinct values (UTF-8 bytes + offsets) and, with ``codes``, one per row."""
    if codes:
        uniq, inverse = np.unique(values, return_inverse=True)
        arrays[f"{key}.codes"] = inverse.astype(np.uint32).ravel()
    else:
        uniq = values
    encoded = [str(v).encode("utf-8") for v in uniq.tolist()]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    arrays[f"{key}.data"] = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    arrays[f"{key}.offsets"] = offsets


# -- decoding ------------------------------------------------------------------------------------


def _decode(archive: Any) -> SpoolBatch:
    try:
        meta = json.loads(_member(archive, "meta", np.uint8).tobytes())
    except (ValueError, UnicodeDecodeError):
        raise DecodeError("spool file meta is not JSON", kind=CORRUPT) from None
    if not isinstance(meta, dict) or meta.get("version") != FORMAT_VERSION:
        raise DecodeError(f"unknown spool format: {meta!r:.80}", kind=CORRUPT)
    n = meta.get("rows")
    flush_id = meta.get("flush_id")
    if not isinstance(n, int) or n < 0 or not (flush_id is None or isinstance(flush_id, str)):
        raise DecodeError("spool file meta is incomplete", kind=CORRUPT)
    if meta.get("kind") == "rows":
        cols = _unpack_columns(archive, AggregateRows.DTYPES, n)
        asn = _member(archive, "o.asn", np.uint32)
        orgs = _unpack_text(archive, "o.org", len(asn))
        countries = _unpack_text(archive, "c.country", None)
        k = len(countries)
        cities = _unpack_text(archive, "c.city", k)
        lat = _member(archive, "c.lat", np.float64, k)
        lon = _member(archive, "c.lon", np.float64, k)
        rows = AggregateRows(
            **cols,
            as_orgs=dict(zip(asn.tolist(), orgs.tolist(), strict=True)),
            cities={
                (c, name): (la, lo)
                for c, name, la, lo in zip(
                    countries.tolist(), cities.tolist(), lat.tolist(), lon.tolist(), strict=True
                )
            },
        )
        return SpoolBatch.of_rows(rows, flush_id)
    if meta.get("kind") == "flows":
        return SpoolBatch.of_flows(FlowRecords(**_unpack_columns(archive, FlowRecords.DTYPES, n)))
    raise DecodeError(f"unknown spool batch kind {meta.get('kind')!r:.40}", kind=CORRUPT)


def _member(archive: Any, key: str, dtype: Any, n: int | None = None) -> npt.NDArray[Any]:
    if key not in archive.files:
        raise DecodeError(f"spool file lacks {key}", kind=CORRUPT)
    arr: npt.NDArray[Any] = archive[key]
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise DecodeError(f"spool member {key} has the wrong type or length", kind=CORRUPT)
    return arr


def _unpack_columns(archive: Any, dtypes: dict[str, Any], n: int) -> Arrays:
    cols: Arrays = {}
    for name, dt in dtypes.items():
        if dt is object:
            uniq = _unpack_text(archive, f"t.{name}", None)
            codes = _member(archive, f"t.{name}.codes", np.uint32, n)
            if n and (not len(uniq) or int(codes.max()) >= len(uniq)):
                raise DecodeError(f"spool column {name} has codes out of range", kind=CORRUPT)
            cols[name] = uniq[codes] if n else np.zeros(0, dtype=object)
        else:
            cols[name] = _member(archive, f"n.{name}", dt, n)
    return cols


def _unpack_text(archive: Any, key: str, n: int | None) -> npt.NDArray[Any]:
    data = _member(archive, f"{key}.data", np.uint8)
    offsets = _member(archive, f"{key}.offsets", np.int64, None if n is None else n + 1)
    if (
        not len(offsets)
        or offsets[0] != 0
        or offsets[-1] != len(data)
        or bool(np.any(np.diff(offsets) < 0))
    ):
        raise DecodeError(f"spool member {key} has bad offsets", kind=CORRUPT)
    raw = data.tobytes()
    bounds = offsets.tolist()
    try:
        texts = [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]
    except UnicodeDecodeError:
        raise DecodeError(f"spool member {key} is not UTF-8", kind=CORRUPT) from None
    return _objects(texts)
