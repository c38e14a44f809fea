"""Record schemas of .mmdb files: detect the shape of the records and turn them into columns.

Three shapes are recognised, from the records themselves (``database_type`` is free text):

- ``maxmind``: MaxMind GeoIP2/GeoLite2 nested maps (``country.iso_code``, ``city.names.en``,
  ``subdivisions[0].names.en``, ``location.latitude``...).
- ``ipinfo``: IPinfo files (``asn`` as ``"AS15169"``, ``as_name``/``name``, ``country``).
- ``flat``: DB-IP / ip-location-db flat maps (``country_code``, ``city``, ``state1``,
  ``latitude``...). Files holding only ``autonomous_system_number``/``_organization`` (GeoLite2-ASN
  and the ip-location-db ASN files share that layout) are flat too: the shape cannot tell them apart
  and both read the same way.

Each column is read from a list of key paths, the first one holding a value wins; an empty string
means "missing" in every vendor's files. :func:`build_records` reads all records at once with the
vectorized :class:`FieldReader`; :func:`records_from_values` does the same from decoded records and
is the reference the fast path falls back to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.countries import encode_country
from trafficatlas.enrich.mmdb_fields import BAD, FieldReader, Path
from trafficatlas.enrich.rangetable import RECORD_COLUMNS, Records

SCHEMAS = ("maxmind", "flat", "ipinfo")
ROLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "auto": tuple(RECORD_COLUMNS),
    "country": ("country",),
    "city": ("country", "city", "region", "latitude", "longitude"),
    "asn": ("asn", "as_org"),
}

_MAXMIND_PATHS: dict[str, tuple[Path, ...]] = {
    "country": (("country", "iso_code"), ("registered_country", "iso_code")),
    "city": (("city", "names", "en"),),
    "region": (("subdivisions", 0, "names", "en"),),
    "latitude": (("location", "latitude"),),
    "longitude": (("location", "longitude"),),
    "asn": (("autonomous_system_number",), ("traits", "autonomous_system_number")),
    "as_org": (
        ("autonomous_system_organization",),
        ("traits", "autonomous_system_organization"),
    ),
}
# DB-IP / ip-location-db and IPinfo: "country" holds a code in older IPinfo files and a name in
# IPinfo Lite (where country_code holds the code); a name never encodes as a country code.
_FLAT_PATHS: dict[str, tuple[Path, ...]] = {
    "country": (("country_code",), ("country",)),
    "city": (("city",),),
    "region": (("state1",), ("region",), ("state",), ("subdivision",)),
    "latitude": (("latitude",), ("lat",)),
    "longitude": (("longitude",), ("lon",), ("lng",)),
    "asn": (("autonomous_system_number",), ("asn",)),
    "as_org": (("autonomous_system_organization",), ("as_name",), ("name",), ("org",)),
}

_NESTED_KEYS = (
    "country", "registered_country", "represented_country", "city", "location",
    "subdivisions", "continent", "postal", "traits",
)  # fmt: skip
_IPINFO_KEYS = frozenset({"asn", "as_name", "as_domain", "country_name", "continent_name"})


def detect_schema(records: Sequence[Any]) -> str | None:
    """Schema name of decoded records (a sample will do); None when no record is a map."""
    keys: set[str] = set()
    nested = False
    for rec in records:
        if type(rec) is not dict:
            continue
        keys.update(rec)
        if not nested:
            nested = any(type(rec.get(k)) in (dict, list) for k in _NESTED_KEYS)
    if not keys:
        return None
    if nested:
        return "maxmind"
    if keys & _IPINFO_KEYS:
        return "ipinfo"
    return "flat"


def column_paths(schema: str) -> dict[str, tuple[Path, ...]]:
    """Key paths each column is read from, in order of preference."""
    return _MAXMIND_PATHS if schema == "maxmind" else _FLAT_PATHS


def build_records(
    reader: FieldReader, offsets: npt.NDArray[Any], schema: str, role: str
) -> Records:
    """Columns for the records at data ``offsets`` (one row each), limited to ``role``'s fields.

    Only columns with at least one known value are kept.
    """
    names = _role_columns(role)
    spec = column_paths(schema)
    starts = np.asarray(offsets, dtype=np.int64)
    found = reader.resolve(starts, [p for name in names for p in spec[name]])
    bad = np.zeros(len(starts), dtype=bool)
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in names:
        col = np.full(len(starts), _MISSING_ONE[name], dtype=RECORD_COLUMNS[name])
        known = np.zeros(len(starts), dtype=bool)
        for path in spec[name]:
            pos = found[path]
            bad |= pos == BAD
            rows = np.flatnonzero(~known & (pos >= 0))
            if len(rows):
                values, has = _read_column(reader, name, pos[rows])
                col[rows[has]] = values[has]
                known[rows[has]] = True
        columns[name] = col
    if bad.any():
        # Records the vectorized reader could not follow: decode them fully, slowly but surely.
        rows = np.flatnonzero(bad)
        fallback = records_from_values(
            reader.section.values_at(starts[rows].tolist()), schema, role, keep_empty=True
        )
        for name, col in fallback.columns.items():
            columns[name][rows] = col
    return Records({k: v for k, v in columns.items() if _has_values(v)})


def records_from_values(
    records: Sequence[Any], schema: str, role: str, keep_empty: bool = False
) -> Records:
    """Columns from decoded records (the reference for :func:`build_records`)."""
    spec = column_paths(schema)
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in _role_columns(role):
        one = _ONE[name]
        missing = _MISSING_ONE[name]
        raw: list[Any] = []
        for rec in records:
            value = missing
            for path in spec[name]:
                value = one(_get(rec, path))
                if not _is_missing(value, missing):
                    break
            raw.append(value)
        col = _typed(name, raw)
        if keep_empty or _has_values(col):
            columns[name] = col
    return Records(columns)


def _role_columns(role: str) -> tuple[str, ...]:
    if role not in ROLE_COLUMNS:
        raise ValueError(f"unknown database role {role!r} (expected one of {list(ROLE_COLUMNS)})")
    return ROLE_COLUMNS[role]


# -- vectorized columns -------------------------------------------------------------------------


def _read_column(
    reader: FieldReader, name: str, pos: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Typed values at value positions, and which of them are known.

    Positions the reader cannot follow come back unknown; the caller flags them BAD beforehand.
    """
    one = _ONE[name]
    missing = _MISSING_ONE[name]
    out: npt.NDArray[Any]
    if name in ("latitude", "longitude"):
        out, left = reader.floats(pos)
    elif name == "asn":
        big, left = reader.uints(pos)
        out = np.where((big > 0) & (big <= 0xFFFF_FFFF), big, 0).astype(np.uint32)
    else:
        out = np.full(len(pos), missing, dtype=RECORD_COLUMNS[name])
        left = pos
    rows = np.flatnonzero(left >= 0)
    if len(rows):
        # Everything else is decoded once per distinct value and converted once.
        distinct, inverse = reader.values(left[rows])
        if name == "country":  # thousands of positions hold the same few hundred codes
            codes: dict[str, int] = {}
            for v in distinct:
                if type(v) is str and v not in codes:
                    codes[v] = one(v)
            converted = [codes[v] if type(v) is str else 0 for v in distinct]
        else:
            converted = [one(v) for v in distinct]
        out[rows] = _typed(name, converted)[inverse]
    known: npt.NDArray[np.bool_]
    if out.dtype.kind == "f":
        known = ~np.isnan(out)
    elif out.dtype.kind == "O":
        known = np.array([v is not None for v in out], dtype=bool)
    else:
        known = out != 0
    return out, known & (left != BAD)


# -- one value at a time ------------------------------------------------------------------------


def _get(value: Any, path: Path) -> Any:
    """Follow map keys / array indexes; None as soon as the shape does not match."""
    for step in path:
        if type(step) is int:
            if type(value) is not list or len(value) <= step:
                return None
            value = value[step]
        elif type(value) is dict:
            value = value.get(step)
        else:
            return None
    return value


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _country(value: Any) -> int:
    return encode_country(value) if type(value) is str else 0


def _as_float(value: Any) -> float:
    if type(value) in (float, int):
        return float(value)
    if type(value) is str:
        try:
            return float(value)
        except ValueError:
            return float("nan")
    return float("nan")


def _as_asn(value: Any) -> int:
    if type(value) is str:
        text = value.strip()
        if text[:2].upper() == "AS":
            text = text[2:]
        value = int(text) if text.isascii() and text.isdigit() else 0
    if type(value) is not int or not 0 < value <= 0xFFFF_FFFF:
        return 0
    return value


def _is_missing(value: Any, missing: Any) -> bool:
    if type(missing) is float:
        return bool(value != value)  # NaN
    return bool(value == missing)


def _typed(name: str, raw: list[Any]) -> npt.NDArray[Any]:
    dtype = RECORD_COLUMNS[name]
    if dtype is object:
        out = np.empty(len(raw), dtype=object)
        out[:] = raw
        return out
    return np.array(raw, dtype=dtype)


def _has_values(col: npt.NDArray[Any]) -> bool:
    if col.dtype == object:
        return any(v is not None for v in col)
    if np.issubdtype(col.dtype, np.floating):
        return bool((~np.isnan(col)).any())
    return bool(col.any())


_ONE: dict[str, Callable[[Any], Any]] = {
    "country": _country,
    "city": _text,
    "region": _text,
    "latitude": _as_float,
    "longitude": _as_float,
    "asn": _as_asn,
    "as_org": _text,
}
_MISSING_ONE: dict[str, Any] = {
    "country": 0,
    "city": None,
    "region": None,
    "latitude": float("nan"),
    "longitude": float("nan"),
    "asn": 0,
    "as_org": None,
}
