"""GeoIP engine: layers the configured and bundled range tables and enriches whole batches.

Location (country, city, lat/lon) comes from the most specific database that knows an address:
configured databases with cities first, then configured country databases, then the bundled
country table. ASN likewise: configured ASN databases, then the bundled ASN table. Special-purpose
addresses (private, documentation, ...) are labelled and never looked up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.databases import (
    DatabaseInfo,
    LoadedDatabase,
    file_stamp,
    load_bundled_databases,
    open_database,
)
from trafficatlas.enrich.rangetable import RangeTable
from trafficatlas.enrich.special import Label, SpecialRanges
from trafficatlas.errors import DatabaseError
from trafficatlas.logging import get_logger
from trafficatlas.net import parse_ip, unmap_v4
from trafficatlas.settings import GeoIPDatabase, GeoIPSettings, Settings

log = get_logger("enrich")

SORT_MIN = 256  # below this many addresses, sorting first does not pay


@dataclass(slots=True)
class _Layers:
    location: list[LoadedDatabase] = field(default_factory=list)
    asn: list[LoadedDatabase] = field(default_factory=list)
    all: list[LoadedDatabase] = field(default_factory=list)

    def place(self, key: int) -> tuple[str, float | None, float | None]:
        """City name ("" unknown) and coordinates of a :meth:`GeoColumns.location_keys` key."""
        if key < 0:
            return "", None, None
        cols = self.location[key >> 32].table.records.columns
        rec = key & 0xFFFF_FFFF
        city = str(cols["city"][rec] or "") if "city" in cols else ""
        if "latitude" in cols and not np.isnan(cols["latitude"][rec]):
            return city, float(cols["latitude"][rec]), float(cols["longitude"][rec])
        return city, None, None


@dataclass(slots=True)
class GeoColumns:
    """Enrichment of a batch of addresses, one row per input address.

    Numeric columns are filled eagerly. Strings (city, region, AS organization) stay as
    (database, record) indices until asked for, so the hot path never builds per-row objects.
    """

    label: npt.NDArray[np.uint8]
    country: npt.NDArray[np.uint16]  # encode_country(); 0 unknown
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    asn: npt.NDArray[np.uint32]
    loc_db: npt.NDArray[np.int8]  # index into layers.location, -1 none
    loc_rec: npt.NDArray[np.int32]
    asn_db: npt.NDArray[np.int8]  # index into layers.asn, -1 none
    asn_rec: npt.NDArray[np.int32]
    net_version: npt.NDArray[np.uint8]  # 0 = no network computed or matched
    net_hi: npt.NDArray[np.uint64]
    net_lo: npt.NDArray[np.uint64]
    net_prefix: npt.NDArray[np.uint8]
    layers: _Layers

    @classmethod
    def empty(cls, n: int, label: npt.NDArray[np.uint8], layers: _Layers) -> GeoColumns:
        return cls(
            label=label,
            country=np.zeros(n, np.uint16),
            latitude=np.full(n, np.nan),
            longitude=np.full(n, np.nan),
            asn=np.zeros(n, np.uint32),
            loc_db=np.full(n, -1, np.int8),
            loc_rec=np.zeros(n, np.int32),
            asn_db=np.full(n, -1, np.int8),
            asn_rec=np.zeros(n, np.int32),
            net_version=np.zeros(n, np.uint8),
            net_hi=np.zeros(n, np.uint64),
            net_lo=np.zeros(n, np.uint64),
            net_prefix=np.zeros(n, np.uint8),
            layers=layers,
        )

    def location_keys(self) -> npt.NDArray[np.int64]:
        """One int per row naming its location record, ``(database << 32) | record`` (-1 none)."""
        return _record_keys(self.loc_db, self.loc_rec)

    def asn_keys(self) -> npt.NDArray[np.int64]:
        """The same for the ASN record (-1 none)."""
        return _record_keys(self.asn_db, self.asn_rec)

    def country_or_label(self) -> npt.NDArray[np.int64]:
        """The country code where there is one, else minus the row's label (PRIVATE, ...)."""
        return np.where(
            self.country != 0, self.country.astype(np.int64), -self.label.astype(np.int64)
        )

    def relabel(self, labels: npt.NDArray[np.uint8]) -> None:
        """Rows whose ``labels`` (from the classifier) are not PUBLIC take that label and lose
        their geography: the classifier knows the site's own networks, the databases do not."""
        hidden = labels != Label.PUBLIC
        if not hidden.any():
            return
        self.label[hidden] = labels[hidden]
        self.country[hidden] = 0
        self.asn[hidden] = 0
        self.loc_db[hidden] = -1
        self.asn_db[hidden] = -1
        self.latitude[hidden] = np.nan
        self.longitude[hidden] = np.nan

    def strings(self, name: str) -> npt.NDArray[Any]:
        """Object column ``city``, ``region`` or ``as_org`` (str | None per row)."""
        if name == "as_org":
            dbs, which, rec = self.layers.asn, self.asn_db, self.asn_rec
        elif name in ("city", "region"):
            dbs, which, rec = self.layers.location, self.loc_db, self.loc_rec
        else:
            raise KeyError(name)
        out = np.full(len(which), None, dtype=object)
        for i, db in enumerate(dbs):
            col = db.table.records.columns.get(name)
            if col is None:
                continue
            rows = np.flatnonzero(which == i)
            if len(rows):
                out[rows] = col[rec[rows]]
        return out


class GeoIP:
    """Batch GeoIP/ASN enrichment over every configured database plus the bundled data."""

    def __init__(
        self,
        settings: GeoIPSettings,
        cache_dir: Path | None = None,
        extra: list[GeoIPDatabase] | None = None,
    ) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        # databases installed by `geoip update`: after the configured ones, before the bundled
        self.extra = list(extra or [])
        self.special = SpecialRanges.build(settings.lookup_reserved)
        self._layers = _Layers()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> GeoIP:
        """A loaded engine for a process: configured, installed (`geoip update`) and bundled
        databases, with the table cache when its folder can be created."""
        from trafficatlas.enrich.update import installed_databases

        folder = settings.geoip_cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            cache: Path | None = folder
        except OSError:
            cache = None  # still works, only slower to start
        geo = cls(settings.geoip, cache, installed_databases(settings))
        geo.load()
        return geo

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load every database; raises DatabaseError naming the first one that fails."""
        dbs = [open_database(spec.path, spec.role, self.cache_dir) for spec in self._specs()]
        if self.settings.use_bundled:
            dbs.extend(load_bundled_databases())
        self._layers = _stack(dbs)

    def _specs(self) -> list[GeoIPDatabase]:
        seen: set[str] = set()
        out: list[GeoIPDatabase] = []
        for spec in [*self.settings.databases, *self.extra]:
            if str(spec.path) not in seen:
                seen.add(str(spec.path))
                out.append(spec)
        return out

    def databases(self) -> list[DatabaseInfo]:
        return [db.info for db in self._layers.all]

    def reload_changed(self) -> list[str]:
        """Reload databases whose files changed and swap them in atomically; their names.

        A database that fails to load keeps its previous version (the error is logged).
        """
        current = self._layers
        changed: list[str] = []
        new_dbs: list[LoadedDatabase] = []
        specs = {str(s.path): s for s in self._specs()}
        for db in current.all:
            if db.info.path is None or db.stamp is None:
                new_dbs.append(db)
                continue
            try:
                stamp = file_stamp(Path(db.info.path))
            except OSError:
                new_dbs.append(db)
                continue
            if stamp == db.stamp:
                new_dbs.append(db)
                continue
            spec = specs.get(db.info.path)
            try:
                role = spec.role if spec else "auto"
                new_dbs.append(open_database(Path(db.info.path), role, self.cache_dir))
                changed.append(db.info.name)
            except DatabaseError as exc:
                log.warning(
                    "geoip reload failed; keeping previous", db=db.info.name, error=str(exc)
                )
                new_dbs.append(db)
        if changed:
            layers = _stack(new_dbs)
            with self._lock:
                self._layers = layers
            log.info("geoip databases reloaded", databases=changed)
        return changed

    # -- lookups ---------------------------------------------------------------------------

    def lookup(
        self,
        version: npt.NDArray[np.uint8],
        hi: npt.NDArray[np.uint64],
        lo: npt.NDArray[np.uint64],
        with_network: bool = False,
    ) -> GeoColumns:
        """Enrich a batch of addresses (IPv4-mapped IPv6 is treated as IPv4).

        Each family is sorted once so that every table's binary searches walk forward through
        memory; ``with_network`` also computes the matched network (for display).
        """
        layers = self._layers  # one consistent snapshot even if a reload swaps meanwhile
        version, hi, lo = unmap_v4(
            np.asarray(version, np.uint8), np.asarray(hi, np.uint64), np.asarray(lo, np.uint64)
        )
        n = len(version)
        out = GeoColumns.empty(n, np.zeros(n, np.uint8), layers)
        special = self.special.table
        for fam in (4, 6):
            rows = np.flatnonzero(version == fam)
            if not len(rows):
                continue
            rows, qhi, qlo = _sorted_rows(fam, rows, hi, lo)
            labels = np.maximum(special.values(fam, qhi, qlo), 0).astype(np.uint8)
            out.label[rows] = labels
            public = labels == Label.PUBLIC
            if not public.all():
                rows, qhi, qlo = rows[public], qhi[public], qlo[public]
            if len(rows):
                _fill_location(out, layers.location, fam, rows, qhi, qlo, with_network)
                _fill_asn(out, layers.asn, fam, rows, qhi, qlo, with_network)
        return out

    def lookup_ips(self, texts: list[str]) -> list[dict[str, Any]]:
        """Enrich addresses given as text; a bad address gives a row with an ``error`` key."""
        from trafficatlas.enrich.display import geo_row

        parsed: list[tuple[int, int, int] | None] = []
        errors: dict[int, str] = {}
        for i, text in enumerate(texts):
            try:
                parsed.append(parse_ip(text))
            except ValueError as exc:
                parsed.append(None)
                errors[i] = str(exc)
        good = [p for p in parsed if p is not None]
        cols = self.lookup(
            np.array([p[0] for p in good], np.uint8),
            np.array([p[1] for p in good], np.uint64),
            np.array([p[2] for p in good], np.uint64),
            with_network=True,
        )
        strings = {name: cols.strings(name) for name in ("city", "region", "as_org")}
        rows: list[dict[str, Any]] = []
        j = 0
        for i, text in enumerate(texts):
            if parsed[i] is None:
                rows.append({"ip": text.strip(), "error": errors[i]})
                continue
            rows.append(geo_row(text.strip(), cols, strings, j))
            j += 1
        return rows


def _record_keys(db: npt.NDArray[np.int8], rec: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    keys: npt.NDArray[np.int64] = np.where(
        db >= 0, (db.astype(np.int64) << 32) | rec.astype(np.int64), -1
    )
    return keys


def _layered(
    dbs: list[LoadedDatabase],
    fam: int,
    rows: npt.NDArray[np.intp],
    qhi: npt.NDArray[np.uint64],
    qlo: npt.NDArray[np.uint64],
    key: str,
) -> Iterator[tuple[int, LoadedDatabase, Any, npt.NDArray[np.intp], npt.NDArray[np.int32], Any]]:
    """For each layer in order, the rows it answers first: (index, db, sel, dst, values, keys).

    A row is answered when the layer has a record whose ``key`` column (country code or AS
    number) is set; ``sel`` indexes the sorted queries, ``dst`` the output rows.
    """
    todo: npt.NDArray[np.intp] | None = None  # None: every row (skips a gather per column)
    for i, db in enumerate(dbs):
        if todo is not None and not len(todo):
            return
        h, lo_ = (qhi, qlo) if todo is None else (qhi[todo], qlo[todo])
        vals = db.table.values(fam, h, lo_)
        hit = vals >= 0
        col = db.table.records.columns.get(key)
        keys = None
        if col is not None:
            if not len(col):
                continue
            keys = col[np.maximum(vals, 0)]
            hit &= keys != 0
        all_hit = bool(hit.all())
        if not all_hit and not hit.any():
            continue
        if all_hit:
            sel: Any = slice(None) if todo is None else todo
            dst = rows if todo is None else rows[todo]
            yield i, db, sel, dst, vals, keys
            return
        sel = np.flatnonzero(hit) if todo is None else todo[hit]
        yield i, db, sel, rows[sel], vals[hit], None if keys is None else keys[hit]
        todo = np.flatnonzero(~hit) if todo is None else todo[~hit]


def _fill_location(
    out: GeoColumns,
    dbs: list[LoadedDatabase],
    fam: int,
    rows: npt.NDArray[np.intp],
    qhi: npt.NDArray[np.uint64],
    qlo: npt.NDArray[np.uint64],
    with_network: bool,
) -> None:
    # the first layer with a country for the row wins, and gives every location column
    for i, db, sel, dst, v, code in _layered(dbs, fam, rows, qhi, qlo, "country"):
        if code is not None:
            out.country[dst] = code
        for name in ("latitude", "longitude"):
            col = db.table.records.columns.get(name)
            if col is not None:
                getattr(out, name)[dst] = col[v]
        out.loc_db[dst] = i
        out.loc_rec[dst] = v
        if with_network:
            _network(out, db.table, fam, dst, qhi[sel], qlo[sel])


def _fill_asn(
    out: GeoColumns,
    dbs: list[LoadedDatabase],
    fam: int,
    rows: npt.NDArray[np.intp],
    qhi: npt.NDArray[np.uint64],
    qlo: npt.NDArray[np.uint64],
    with_network: bool,
) -> None:
    for i, db, sel, dst, v, asn in _layered(dbs, fam, rows, qhi, qlo, "asn"):
        out.asn[dst] = asn
        out.asn_db[dst] = i
        out.asn_rec[dst] = v
        if with_network:
            # the network reported is the location database's; ASN's only when none matched
            nonet = out.net_version[dst] == 0
            if nonet.any():
                _network(out, db.table, fam, dst[nonet], qhi[sel][nonet], qlo[sel][nonet])


def _sorted_rows(
    fam: int,
    rows: npt.NDArray[np.intp],
    hi: npt.NDArray[np.uint64],
    lo: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Rows reordered by address, with their (hi, lo) in that order."""
    if fam == 4:
        a = lo[rows]
        if len(rows) > SORT_MIN:
            # sort address<<32 | position as one uint64: a plain sort is several times
            # faster than an argsort, and the low half gives the permutation back
            packed = np.sort((a << np.uint64(32)) | np.arange(len(rows), dtype=np.uint64))
            rows = rows[(packed & np.uint64(0xFFFF_FFFF)).astype(np.intp)]
            a = packed >> np.uint64(32)
        return rows, np.zeros(len(rows), np.uint64), a
    if len(rows) > SORT_MIN:
        # the same trick on the upper half with its low bits traded for the position: the
        # order is exact down to those bits, which is all the searches need to walk forward
        bits = np.uint64(max(int(len(rows) - 1).bit_length(), 1))
        low = (np.uint64(1) << bits) - np.uint64(1)
        key = (hi[rows] & ~low) | np.arange(len(rows), dtype=np.uint64)
        rows = rows[(np.sort(key) & low).astype(np.intp)]
    return rows, hi[rows], lo[rows]


def _network(
    out: GeoColumns,
    table: RangeTable,
    fam: int,
    dst: npt.NDArray[np.intp],
    qhi: npt.NDArray[np.uint64],
    qlo: npt.NDArray[np.uint64],
) -> None:
    version = np.full(len(dst), fam, dtype=np.uint8)
    _vals, prefix, nh, nl = table.lookup(version, qhi, qlo)
    if fam == 6 and table.v4_aliases:
        # an IPv6 row answered through an IPv4 alias reports its IPv4 network
        v2, _, _ = table._apply_aliases(version, qhi, qlo)
        version = v2
    out.net_version[dst] = version
    out.net_prefix[dst] = prefix
    out.net_hi[dst] = nh
    out.net_lo[dst] = nl


def _stack(dbs: list[LoadedDatabase]) -> _Layers:
    layers = _Layers(all=list(dbs))
    with_city = [d for d in dbs if "city" in d.info.roles]
    country_only = [d for d in dbs if "location" in d.info.roles and "city" not in d.info.roles]
    layers.location = with_city + country_only
    layers.asn = [d for d in dbs if "asn" in d.info.roles]
    return layers
