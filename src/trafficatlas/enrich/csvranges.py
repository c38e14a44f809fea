"""Range tables from CSV files: ``start,end,asn,org`` (ASN) or ``start,end,country_code``.

This is the layout of the ip-location-db CSV packages (``asn-ipv4.csv``, ``asn-ipv6-num.csv``...):
inclusive ranges, addresses as text or as decimal integers, organisation names quoted when they
hold commas. Ranges keep ``PREFIX_FROM_RANGE``, so lookups compute the matched network as the
largest CIDR block around the address inside the range.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.countries import encode_country
from trafficatlas.enrich.rangetable import (
    PREFIX_FROM_RANGE,
    RangeTable,
    Records,
    build_v4,
    build_v6_split,
)
from trafficatlas.errors import DatabaseError

Role = Literal["asn", "country"]
_MAX_PROBLEMS = 10
_V4_MAX = 0xFFFF_FFFF
_MASK64 = (1 << 64) - 1


@dataclass(slots=True)
class CSVStats:
    """What loading CSV files found: kept ranges, skipped rows and the first few problems."""

    files: int = 0
    rows: int = 0  # non-blank data rows read
    ranges_v4: int = 0  # rows kept (before merging adjacent equal ranges)
    ranges_v6: int = 0
    malformed: int = 0
    overlapping: int = 0  # rows dropped because an earlier (sorted) row covers part of them
    records: int = 0  # distinct (asn, org) or country values
    problems: list[str] = field(default_factory=list)  # "file:line: reason", at most 10

    def note(self, where: str, reason: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{where}: {reason}")


@dataclass(slots=True)
class RangeRows:
    """Inclusive ranges of one IP family as Python ints, in input order, with record indexes."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)


def load_csv_table(paths: list[Path], role: Role) -> tuple[RangeTable, CSVStats]:
    """Build one table from ASN or country CSV files (IPv4 and IPv6, text or numeric).

    Rows are sorted; of overlapping rows the first in sorted order (then file order) is kept and
    the others counted. Malformed rows are counted and skipped; a file without a single valid row
    raises DatabaseError.
    """
    if role not in ("asn", "country"):
        raise ValueError(f"unknown CSV role {role!r}")
    if not paths:
        raise DatabaseError(f"no {role} CSV files given")
    stats = CSVStats()
    keys: dict[Any, int] = {}
    v4, v6 = RangeRows(), RangeRows()
    for path in paths:
        _read_file(Path(path), role, keys, v4, v6, stats)
    table = ranges_to_table(v4, v6, _records(role, list(keys)), stats)
    return table, stats


# -- reading -----------------------------------------------------------------------------------


def _read_file(
    path: Path, role: Role, keys: dict[Any, int], v4: RangeRows, v6: RangeRows, stats: CSVStats
) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatabaseError(f"cannot read CSV file {path}: {exc.strerror or exc}") from None
    text = raw.decode("utf-8", "replace").removeprefix("\ufeff")
    stats.files += 1
    name = path.name.lower()
    hint = 6 if "ipv6" in name else 4 if "ipv4" in name else 0
    starts: list[str] = []
    ends: list[str] = []
    values: list[int] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text))
    malformed_before = stats.malformed
    first = True
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # E.g. a field over the csv module's size limit; the reader resumes at the next line.
            stats.rows += 1
            stats.malformed += 1
            stats.note(f"{path.name}:{reader.line_num}", f"CSV syntax error: {exc}")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        at_top, first = first, False
        stats.rows += 1
        value = _row_value(row, role, keys)
        if isinstance(value, str):
            if at_top and _looks_like_header(row):
                stats.rows -= 1
                continue
            stats.malformed += 1
            stats.note(f"{path.name}:{reader.line_num}", value)
            continue
        starts.append(row[0].strip())
        ends.append(row[1].strip())
        values.append(value)
        lines.append(reader.line_num)
    kept = _add_addresses(path, hint, starts, ends, values, lines, v4, v6, stats)
    if not kept:
        bad = stats.malformed - malformed_before
        detail = f"{bad} malformed rows" if bad else "no data rows"
        raise DatabaseError(f"CSV file {path} has no valid {role} range ({detail})")


def _row_value(row: list[str], role: Role, keys: dict[Any, int]) -> int | str:
    """Record index for a row's data columns, or the reason the row is malformed."""
    if role == "asn":
        if len(row) not in (3, 4):
            return f"expected 4 columns (start,end,asn,org), got {len(row)}"
        text = row[2].strip()
        if text[:2] in ("AS", "as"):
            text = text[2:]
        if not (text.isascii() and text.isdigit()) or int(text) > _V4_MAX:
            return f"bad AS number {row[2]!r}"
        org = row[3].strip() if len(row) == 4 else ""
        if "\n" in org or "\r" in org:
            # An unterminated quote swallows the following lines into one field.
            return "line break inside the organisation (unterminated quote?)"
        key: Any = (int(text), org or None)
    else:
        if len(row) < 3:
            return f"expected 3 columns (start,end,country_code), got {len(row)}"
        code = row[2].strip().upper()
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            return f"bad country code {row[2]!r}"
        key = encode_country(code)
    index = keys.get(key)
    if index is None:
        index = keys[key] = len(keys)
    return index


def _looks_like_header(row: list[str]) -> bool:
    first = row[0].strip()
    return bool(first) and first.replace("_", "").isalpha()


def _parse_addr(text: str, numeric_family: int) -> tuple[int, int]:
    """(family, integer) of an address given as text or as a decimal number; family 0 = bad."""
    try:
        if ":" in text:
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        if "." in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        return 0, 0
    if text.isdigit() and text.isascii():
        n = int(text)
        if numeric_family == 4 and n > _V4_MAX:
            return 0, 0
        if n >> 128:
            return 0, 0
        return numeric_family, n
    return 0, 0


def _numeric_family(hint: int, starts: list[str], ends: list[str]) -> int:
    """Numeric addresses carry no family: trust the file name, else the size of the numbers."""
    if hint:
        return hint
    for text in (*starts, *ends):
        if text.isdigit() and text.isascii() and int(text) > _V4_MAX:
            return 6
    return 4


def _add_addresses(
    path: Path,
    hint: int,
    starts: list[str],
    ends: list[str],
    values: list[int],
    lines: list[int],
    v4: RangeRows,
    v6: RangeRows,
    stats: CSVStats,
) -> int:
    numeric = _numeric_family(hint, starts, ends)
    kept = 0
    for s_text, e_text, value, line in zip(starts, ends, values, lines, strict=True):
        fs, s = _parse_addr(s_text, numeric)
        fe, e = _parse_addr(e_text, numeric)
        if fs == 0 or fe == 0:
            reason = f"bad address {s_text if fs == 0 else e_text!r}"
        elif fs != fe:
            reason = f"start {s_text!r} and end {e_text!r} are of different IP versions"
        elif e < s:
            reason = f"end {e_text!r} lies before start {s_text!r}"
        else:
            rows = v4 if fs == 4 else v6
            rows.starts.append(s)
            rows.ends.append(e)
            rows.values.append(value)
            kept += 1
            continue
        stats.malformed += 1
        stats.note(f"{path.name}:{line}", reason)
    return kept


# -- building ----------------------------------------------------------------------------------


def ranges_to_table(
    v4: RangeRows, v6: RangeRows, records: Records, stats: CSVStats | None = None
) -> RangeTable:
    """A table of ``PREFIX_FROM_RANGE`` ranges: sorted, overlaps dropped, unused records pruned.

    Touching ranges with the same value are merged. ``stats`` (if given) receives the counts.
    """
    stats = stats if stats is not None else CSVStats()
    s4 = np.array(v4.starts, dtype=np.uint64)
    e4 = np.array(v4.ends, dtype=np.uint64)
    val4 = np.array(v4.values, dtype=np.int32)
    order = np.argsort(s4, kind="stable")
    s4, e4, val4 = s4[order], e4[order], val4[order]
    keep4 = _keep_first(s4.tolist(), e4.tolist()) if _overlaps_v4(s4, e4) else None
    if keep4 is not None:
        stats.overlapping += int((~keep4).sum())
        _note_overlaps(stats, s4[~keep4].tolist(), e4[~keep4].tolist(), 32)
        s4, e4, val4 = s4[keep4], e4[keep4], val4[keep4]

    sh, sl = _split(v6.starts)
    eh, el = _split(v6.ends)
    val6 = np.array(v6.values, dtype=np.int32)
    order = np.lexsort((sl, sh))  # stable: equal starts keep file order
    sh, sl, eh, el, val6 = sh[order], sl[order], eh[order], el[order], val6[order]
    if _overlaps_v6(sh, sl, eh, el):
        keep6 = _keep_first(
            [int(v) for v in np.asarray(v6.starts, dtype=object)[order]],
            [int(v) for v in np.asarray(v6.ends, dtype=object)[order]],
        )
        stats.overlapping += int((~keep6).sum())
        dropped = np.flatnonzero(~keep6).tolist()
        _note_overlaps(
            stats, [v6.starts[order[i]] for i in dropped], [v6.ends[order[i]] for i in dropped], 128
        )
        sh, sl, eh, el, val6 = sh[keep6], sl[keep6], eh[keep6], el[keep6], val6[keep6]
    stats.ranges_v4 = len(s4)
    stats.ranges_v6 = len(sh)

    # Keep only records that surviving rows point at, in their original order.
    used = np.unique(np.concatenate([val4, val6]))
    remap = np.full(len(records), -1, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    val4, val6 = remap[val4], remap[val6]
    kept = Records({name: col[used] for name, col in records.columns.items()})
    stats.records = len(kept)

    sh, sl, eh, el, val6 = _merge_adjacent_v6(sh, sl, eh, el, val6)
    v4_starts, v4_values, v4_prefix = build_v4(s4, e4, val4)
    p6 = np.full(len(sh), PREFIX_FROM_RANGE, dtype=np.uint8)
    v6_hi, v6_lo, v6_values, v6_prefix = build_v6_split(sh, sl, eh, el, val6, p6)
    return RangeTable(
        v4_starts=v4_starts,
        v4_values=v4_values,
        v4_prefix=v4_prefix,
        v6_hi=v6_hi,
        v6_lo=v6_lo,
        v6_values=v6_values,
        v6_prefix=v6_prefix,
        records=kept,
    )


def _records(role: Role, picked: list[Any]) -> Records:
    if role == "country":
        return Records({"country": np.array(picked, dtype=np.uint16)})
    orgs = np.empty(len(picked), dtype=object)
    orgs[:] = [org for _, org in picked]
    return Records({"asn": np.array([a for a, _ in picked], dtype=np.uint32), "as_org": orgs})


def _split(values: list[int]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    hi = np.array([v >> 64 for v in values], dtype=np.uint64)
    lo = np.array([v & _MASK64 for v in values], dtype=np.uint64)
    return hi, lo


def _overlaps_v4(s: npt.NDArray[np.uint64], e: npt.NDArray[np.uint64]) -> bool:
    # Sorted starts with every start past the previous end means ends increase too: no overlap.
    return bool(len(s) > 1 and np.any(s[1:] <= e[:-1]))


def _overlaps_v6(
    sh: npt.NDArray[np.uint64],
    sl: npt.NDArray[np.uint64],
    eh: npt.NDArray[np.uint64],
    el: npt.NDArray[np.uint64],
) -> bool:
    if len(sh) < 2:
        return False
    after = (sh[1:] > eh[:-1]) | ((sh[1:] == eh[:-1]) & (sl[1:] > el[:-1]))
    return not bool(after.all())


def _note_overlaps(stats: CSVStats, starts: list[int], ends: list[int], bits: int) -> None:
    make = ipaddress.IPv4Address if bits == 32 else ipaddress.IPv6Address
    for s, e in zip(starts[:_MAX_PROBLEMS], ends[:_MAX_PROBLEMS], strict=True):
        stats.note(f"range {make(s)}-{make(e)}", "overlaps an earlier range; dropped")


def _keep_first(starts: list[int], ends: list[int]) -> npt.NDArray[np.bool_]:
    """Sorted rows to keep: a row is dropped when it overlaps one already kept."""
    keep = np.ones(len(starts), dtype=bool)
    reach = -1
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        if s <= reach:
            keep[i] = False
        else:
            reach = e
    return keep


def _merge_adjacent_v6(
    sh: npt.NDArray[np.uint64],
    sl: npt.NDArray[np.uint64],
    eh: npt.NDArray[np.uint64],
    el: npt.NDArray[np.uint64],
    values: npt.NDArray[np.int32],
) -> tuple[
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.int32],
]:
    """Join touching ranges with the same value (build_v4 does the same for IPv4)."""
    if len(sh) < 2:
        return sh, sl, eh, el, values
    top = np.uint64(_MASK64)
    next_lo = el[:-1] + np.uint64(1)
    next_hi = eh[:-1] + (el[:-1] == top).astype(np.uint64)
    joins = (sh[1:] == next_hi) & (sl[1:] == next_lo) & (values[1:] == values[:-1])
    if not joins.any():
        return sh, sl, eh, el, values
    first = np.concatenate([[True], ~joins])  # rows that start a merged run
    last = np.concatenate([~joins, [True]])  # rows that end one
    return sh[first], sl[first], eh[last], el[last], values[first]
