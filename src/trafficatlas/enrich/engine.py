"""GeoIP engine: layers the configured and bundled range tables and enriches whole batches.

Location (country, city, lat/lon) comes from the most specific database that knows an address:
configured databases with cities first, then configured country databases, then the bundled
country table. ASN likewise: configured ASN databases, then the bundled ASN table. Special-purpose
addresses (private, documentation, ...) are labelled and never looked up.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.countries import country_flag, country_name, decode_country
from trafficatlas.enrich.rangetable import RangeTable
from trafficatlas.enrich.special import Label, SpecialRanges, label_name
from trafficatlas.errors import DatabaseError
from trafficatlas.logging import get_logger
from trafficatlas.net import format_ip, format_network, parse_ip, unmap_v4
from trafficatlas.settings import GeoIPDatabase, GeoIPSettings

log = get_logger("enrich")

CACHE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """What `geoip info` and the API say about one loaded database."""

    name: str
    path: str | None
    kind: str  # "mmdb" | "csv" | "bundled"
    roles: tuple[str, ...]  # subset of ("location", "city", "asn")
    schema: str
    database_type: str
    build_epoch: int | None
    networks: int
    size: int
    license: str
    source: str
    cached: bool = False


@dataclass(slots=True)
class LoadedDatabase:
    table: RangeTable
    info: DatabaseInfo
    stamp: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) of the file


@dataclass(slots=True)
class GeoColumns:
    """Enrichment of a batch of addresses, one row per input address."""

    label: npt.NDArray[np.uint8]
    country: npt.NDArray[np.uint16]
    city: npt.NDArray[Any]  # object: str | None
    region: npt.NDArray[Any]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    asn: npt.NDArray[np.uint32]
    as_org: npt.NDArray[Any]
    net_version: npt.NDArray[np.uint8]
    net_hi: npt.NDArray[np.uint64]
    net_lo: npt.NDArray[np.uint64]
    net_prefix: npt.NDArray[np.uint8]  # 0 with net_version 0 = no database matched


@dataclass(slots=True)
class _Layers:
    location: list[LoadedDatabase] = field(default_factory=list)
    asn: list[LoadedDatabase] = field(default_factory=list)
    all: list[LoadedDatabase] = field(default_factory=list)


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

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load every database; raises DatabaseError naming the first one that fails."""
        dbs: list[LoadedDatabase] = []
        for spec in self._specs():
            dbs.append(open_database(spec.path, spec.role, self.cache_dir))
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
        """Reload configured databases whose files changed; swap atomically. Returns their names.

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
                new_dbs.append(
                    open_database(Path(db.info.path), spec.role if spec else "auto", self.cache_dir)
                )
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
    ) -> GeoColumns:
        """Enrich a batch of addresses (IPv4-mapped IPv6 is treated as IPv4)."""
        layers = self._layers  # one consistent snapshot even if a reload swaps meanwhile
        version, hi, lo = unmap_v4(
            np.asarray(version, np.uint8), np.asarray(hi, np.uint64), np.asarray(lo, np.uint64)
        )
        n = len(version)
        label = self.special.classify(version, hi, lo)
        public = np.flatnonzero(label == Label.PUBLIC)
        out = GeoColumns(
            label=label,
            country=np.zeros(n, np.uint16),
            city=np.full(n, None, dtype=object),
            region=np.full(n, None, dtype=object),
            latitude=np.full(n, np.nan),
            longitude=np.full(n, np.nan),
            asn=np.zeros(n, np.uint32),
            as_org=np.full(n, None, dtype=object),
            net_version=np.zeros(n, np.uint8),
            net_hi=np.zeros(n, np.uint64),
            net_lo=np.zeros(n, np.uint64),
            net_prefix=np.zeros(n, np.uint8),
        )
        if not len(public):
            return out
        pv, ph, pl = version[public], hi[public], lo[public]
        # location: first layer with a country for the row wins, and gives all location columns
        todo = np.ones(len(public), dtype=bool)
        for db in layers.location:
            if not todo.any():
                break
            rows = np.flatnonzero(todo)
            vals, prefix, nh, nl = db.table.lookup(pv[rows], ph[rows], pl[rows])
            rec = db.table.records
            country = rec.gather("country", vals) if rec.has("country") else None
            hit = vals >= 0
            if country is not None:
                hit &= country != 0
            if not hit.any():
                continue
            sel = rows[hit]
            dst = public[sel]
            v = vals[hit]
            if country is not None:
                out.country[dst] = country[hit]
            for name in ("city", "region", "latitude", "longitude"):
                if rec.has(name):
                    getattr(out, name)[dst] = rec.gather(name, v)
            _set_network(out, dst, pv[sel], prefix[hit], nh[hit], nl[hit])
            todo[sel] = False
        todo = np.ones(len(public), dtype=bool)
        for db in layers.asn:
            if not todo.any():
                break
            rows = np.flatnonzero(todo)
            vals, prefix, nh, nl = db.table.lookup(pv[rows], ph[rows], pl[rows])
            rec = db.table.records
            asn = rec.gather("asn", vals)
            hit = (vals >= 0) & (asn != 0)
            if not hit.any():
                continue
            sel = rows[hit]
            dst = public[sel]
            out.asn[dst] = asn[hit]
            if rec.has("as_org"):
                out.as_org[dst] = rec.gather("as_org", vals[hit])
            # the network reported is the location database's; ASN's only when none matched
            nonet = out.net_version[dst] == 0
            if nonet.any():
                _set_network(
                    out,
                    dst[nonet],
                    pv[sel][nonet],
                    prefix[hit][nonet],
                    nh[hit][nonet],
                    nl[hit][nonet],
                )
            todo[sel] = False
        return out

    def lookup_ips(self, texts: list[str]) -> list[dict[str, Any]]:
        """Enrich addresses given as text; a bad address gives a row with an ``error`` key."""
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
        )
        rows: list[dict[str, Any]] = []
        j = 0
        for i, text in enumerate(texts):
            if parsed[i] is None:
                rows.append({"ip": text.strip(), "error": errors[i]})
                continue
            rows.append(geo_row(text.strip(), cols, j))
            j += 1
        return rows


def geo_row(ip: str, cols: GeoColumns, j: int) -> dict[str, Any]:
    """One enriched address as a JSON-ready dict."""
    code = decode_country(int(cols.country[j]))
    lat = float(cols.latitude[j])
    lon = float(cols.longitude[j])
    network = None
    if cols.net_version[j]:
        network = format_network(
            int(cols.net_version[j]),
            int(cols.net_hi[j]),
            int(cols.net_lo[j]),
            int(cols.net_prefix[j]),
        )
    asn = int(cols.asn[j])
    return {
        "ip": ip,
        "country": code,
        "country_name": country_name(code),
        "flag": country_flag(code),
        "city": cols.city[j],
        "region": cols.region[j],
        "latitude": None if np.isnan(lat) else lat,
        "longitude": None if np.isnan(lon) else lon,
        "asn": asn or None,
        "as_org": cols.as_org[j],
        "network": network,
        "label": label_name(int(cols.label[j])),
    }


def _set_network(
    out: GeoColumns,
    dst: npt.NDArray[np.intp],
    version: npt.NDArray[np.uint8],
    prefix: npt.NDArray[np.uint8],
    nh: npt.NDArray[np.uint64],
    nl: npt.NDArray[np.uint64],
) -> None:
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


def _roles(table: RangeTable) -> tuple[str, ...]:
    rec = table.records
    roles: list[str] = []
    if rec.has("country"):
        roles.append("location")
    if rec.has("city"):
        roles.append("city")
    if rec.has("asn"):
        roles.append("asn")
    return tuple(roles)


def file_stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def open_database(path: Path, role: str = "auto", cache_dir: Path | None = None) -> LoadedDatabase:
    """Open an .mmdb or ASN/country .csv file as a range table (cached on disk for .mmdb)."""
    from trafficatlas.enrich import csvranges, mmdb, tablefile

    path = Path(path)
    try:
        stamp = file_stamp(path)
    except FileNotFoundError:
        raise DatabaseError(f"GeoIP database not found: {path}") from None
    except OSError as exc:
        raise DatabaseError(f"cannot read GeoIP database {path}: {exc.strerror}") from None
    if path.is_dir():
        raise DatabaseError(f"GeoIP database path is a directory: {path}")
    name = path.name
    if path.suffix.lower() == ".csv":
        csv_role = "country" if role in ("country", "city") else "asn"
        table, _stats = csvranges.load_csv_table([path], csv_role)  # type: ignore[arg-type]
        info = DatabaseInfo(
            name=name,
            path=str(path),
            kind="csv",
            roles=_roles(table),
            schema="csv-ranges",
            database_type=f"{csv_role} ranges",
            build_epoch=None,
            networks=table.networks,
            size=stamp[1],
            license="",
            source=str(path),
        )
        return LoadedDatabase(table, info, stamp)
    meta = mmdb.read_metadata(path)
    cache_file: Path | None = None
    if cache_dir is not None:
        key = hashlib.sha256(
            f"{CACHE_FORMAT}|{path.resolve()}|{meta.build_epoch}|{stamp[1]}|{role}".encode()
        ).hexdigest()[:24]
        cache_file = cache_dir / f"{path.stem}-{key}.tat"
        if cache_file.exists():
            try:
                table, tmeta = tablefile.load_table(cache_file)
                info = _mmdb_info(path, meta, table, str(tmeta.get("schema", "")), stamp, True)
                return LoadedDatabase(table, info, stamp)
            except DatabaseError as exc:
                log.warning(
                    "ignoring unreadable table cache", cache=str(cache_file), error=str(exc)
                )
    table, meta, schema = mmdb.build_table(path, role)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tablefile.save_table(table, cache_file, meta={"schema": schema, "source": str(path)})
        except OSError as exc:
            log.warning("cannot write table cache", cache=str(cache_file), error=str(exc))
    return LoadedDatabase(table, _mmdb_info(path, meta, table, schema, stamp, False), stamp)


def _mmdb_info(
    path: Path, meta: Any, table: RangeTable, schema: str, stamp: tuple[int, int, int], cached: bool
) -> DatabaseInfo:
    description = meta.description.get("en", "") if isinstance(meta.description, dict) else ""
    return DatabaseInfo(
        name=path.name,
        path=str(path),
        kind="mmdb",
        roles=_roles(table),
        schema=schema,
        database_type=str(meta.database_type),
        build_epoch=int(meta.build_epoch),
        networks=table.networks,
        size=stamp[1],
        license=_guess_license(str(meta.database_type), description),
        source=description or str(path),
        cached=cached,
    )


def _guess_license(database_type: str, description: str) -> str:
    text = f"{database_type} {description}".lower()
    if "geolite" in text:
        return "GeoLite2 End User License Agreement (MaxMind)"
    if "geoip2" in text:
        return "MaxMind commercial license"
    if "db-ip" in text or "dbip" in text:
        return "CC BY 4.0 (DB-IP)"
    if "ipinfo" in text:
        return "CC BY-SA 4.0 (IPinfo)"
    return "unknown"


def load_bundled_databases() -> list[LoadedDatabase]:
    """The country and ASN tables shipped in the package."""
    from datetime import UTC, datetime

    from trafficatlas.enrich import bundled

    data = bundled.load_bundled()
    out: list[LoadedDatabase] = []
    for name, table, src in (
        ("bundled-country", data.country, data.country_source),
        ("bundled-asn", data.asn, data.asn_source),
    ):
        try:
            epoch: int | None = int(
                datetime.strptime(src.data_date, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
            )
        except ValueError:
            epoch = None
        info = DatabaseInfo(
            name=name,
            path=None,
            kind="bundled",
            roles=_roles(table),
            schema="bundled",
            database_type=f"{name.removeprefix('bundled-')} ranges",
            build_epoch=epoch,
            networks=table.networks,
            size=0,
            license=src.license,
            source=f"{src.credit}; {src.source} {src.version}",
        )
        out.append(LoadedDatabase(table, info))
    return out


def describe_address(geo: GeoIP, ip: str) -> dict[str, Any]:
    """Convenience for one address (used by the API and tests)."""
    return geo.lookup_ips([ip])[0]


def format_row_text(row: dict[str, Any]) -> str:
    """One human-readable line for `trafficatlas lookup`."""
    if "error" in row:
        return f"{row['ip']}  error: {row['error']}"
    parts = [row["ip"]]
    if row["label"]:
        parts.append(row["label"])
    if row["country"]:
        flag = f"{row['flag']} " if row["flag"] else ""
        parts.append(f"{flag}{row['country']} {row['country_name'] or ''}".rstrip())
    if row["city"]:
        parts.append(row["city"])
    if row["latitude"] is not None:
        parts.append(f"({row['latitude']:.4f}, {row['longitude']:.4f})")
    if row["asn"]:
        parts.append(f"AS{row['asn']} {row['as_org'] or ''}".rstrip())
    if row["network"]:
        parts.append(row["network"])
    if len(parts) == 1:
        parts.append("unknown")
    return "  ".join(parts)


__all__ = [
    "DatabaseInfo",
    "GeoColumns",
    "GeoIP",
    "LoadedDatabase",
    "format_ip",
    "format_row_text",
    "geo_row",
    "open_database",
]
