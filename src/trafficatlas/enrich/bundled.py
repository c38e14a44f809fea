"""The offline country and ASN tables shipped inside the package (DB-IP, RouteViews, NRO).

They let trafficatlas show countries and ASNs with no database configured. The files are built by
``scripts/build_bundled_data.py``; their provenance lives in the table meta and in ``ATTRIBUTION``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from trafficatlas.enrich.rangetable import RangeTable
from trafficatlas.enrich.tablefile import Meta, load_table
from trafficatlas.errors import DatabaseError

COUNTRY_FILE = "country.tat"
ASN_FILE = "asn.tat"
ATTRIBUTION_FILE = "ATTRIBUTION"
ATTRIBUTION = (
    "IP geolocation by DB-IP (db-ip.com), ASN data by RouteViews, NRO and DB-IP — CC BY 4.0"
)


@dataclass(frozen=True, slots=True)
class BundledSource:
    """Where one bundled table came from."""

    source: str  # npm package name, e.g. "@ip-location-db/asn"
    version: str
    license: str  # SPDX id, e.g. "CC-BY-4.0"
    data_date: str  # ISO date the data was built by its publisher
    credit: str  # who made the data

    @classmethod
    def from_meta(cls, meta: Meta, name: str) -> BundledSource:
        try:
            return cls(
                source=str(meta["source"]),
                version=str(meta["version"]),
                license=str(meta["license"]),
                data_date=str(meta["data_date"]),
                credit=str(meta["credit"]),
            )
        except KeyError as exc:
            raise DatabaseError(f"bundled table {name} lacks meta field {exc}") from None


@dataclass(frozen=True, slots=True)
class BundledData:
    """Both bundled tables with their provenance and the attribution the license asks for."""

    country: RangeTable  # records: country (uint16, encode_country)
    asn: RangeTable  # records: asn (uint32), as_org (str | None)
    country_source: BundledSource
    asn_source: BundledSource
    license_text: str  # the ATTRIBUTION file: sources, license, changes made
    attribution: str  # one line for UIs and API responses


_lock = threading.Lock()
_cached: BundledData | None = None


def load_bundled() -> BundledData:
    """Load the bundled tables (once per process; later calls return the same object)."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _load()
        return _cached


def attribution() -> str:
    """One-line credit for the bundled data (CC BY 4.0 requires showing it)."""
    return ATTRIBUTION


def _load() -> BundledData:
    folder = resources.files("trafficatlas").joinpath("enrich", "data")
    try:
        license_text = folder.joinpath(ATTRIBUTION_FILE).read_text(encoding="utf-8")
    except OSError as exc:
        raise DatabaseError(f"bundled data is missing from the installation: {exc}") from None
    country, country_meta = _table(folder.joinpath(COUNTRY_FILE), COUNTRY_FILE)
    asn, asn_meta = _table(folder.joinpath(ASN_FILE), ASN_FILE)
    return BundledData(
        country=country,
        asn=asn,
        country_source=BundledSource.from_meta(country_meta, COUNTRY_FILE),
        asn_source=BundledSource.from_meta(asn_meta, ASN_FILE),
        license_text=license_text,
        attribution=ATTRIBUTION,
    )


def _table(resource: Traversable, name: str) -> tuple[RangeTable, Meta]:
    # as_file gives a real path even when the package is imported from a zip archive.
    with resources.as_file(resource) as path:
        if not Path(path).is_file():
            raise DatabaseError(f"bundled table {name} is missing from the installation")
        return load_table(Path(path))
