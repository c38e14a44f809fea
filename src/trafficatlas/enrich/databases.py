"""Database files as range tables: .mmdb (cached on disk), CSV ranges, and the bundled data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trafficatlas.enrich.rangetable import RangeTable
from trafficatlas.errors import DatabaseError
from trafficatlas.logging import get_logger

log = get_logger("enrich")

# bump when the cached table layout or its building changes, to ignore older caches
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
