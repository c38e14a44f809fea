"""Where `geoip update` downloads from: configured sources turned into concrete URLs.

MaxMind's download API (basic auth, or the credentials of an existing ``GeoIP.conf``), DB-IP's
monthly lite files, ip-location-db release assets, any URL and local files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from trafficatlas.errors import ConfigError
from trafficatlas.settings import GeoIPSettings, GeoIPSource

Role = Literal["auto", "country", "city", "asn"]
DBIP_EDITIONS = ("country", "city", "asn")
# geoipupdate's sample GeoIP.conf ships these; they never authenticate.
_PLACEHOLDER_ACCOUNTS = {"", "0", "YOUR_ACCOUNT_ID_HERE"}
_PLACEHOLDER_KEYS = {"", "000000000000", "YOUR_LICENSE_KEY_HERE"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class GeoIPConf:
    """The parts of a geoipupdate ``GeoIP.conf`` that matter for downloading."""

    account_id: str
    license_key: str
    edition_ids: tuple[str, ...]


@dataclass(frozen=True)
class DownloadTarget:
    """One database to fetch and install as ``<download_dir>/<name>.<ext>``."""

    name: str
    source: str
    # Tried in order; a 404 moves on to the next (DB-IP: this month, then last month).
    urls: tuple[str, ...] = ()
    auth: tuple[str, str] | None = None
    local: Path | None = None
    role: Role = "auto"

    @property
    def location(self) -> str:
        """The first place this target is fetched from, for messages."""
        return str(self.local) if self.local is not None else self.urls[0]


def parse_geoip_conf(path: Path) -> GeoIPConf:
    """Read AccountID/UserId, LicenseKey and EditionIDs/ProductIds from a GeoIP.conf."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"GeoIP.conf not found: {path}") from None
    except PermissionError:
        raise ConfigError(f"GeoIP.conf not readable (permission denied): {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read GeoIP.conf {path}: {exc}") from None
    values: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, rest = line.partition(" ")
        values[key.strip().lower()] = rest.split()
    account = _single(values, ("accountid", "userid"))
    key = _single(values, ("licensekey",))
    editions = values.get("editionids") or values.get("productids") or []
    if account in _PLACEHOLDER_ACCOUNTS or key in _PLACEHOLDER_KEYS:
        raise ConfigError(
            f"GeoIP.conf {path} has no real AccountID/LicenseKey (placeholder or missing)"
        )
    return GeoIPConf(account_id=account, license_key=key, edition_ids=tuple(editions))


def _single(values: dict[str, list[str]], keys: tuple[str, ...]) -> str:
    for key in keys:
        if values.get(key):
            return values[key][0]
    return ""


def maxmind_url(base_url: str, edition: str) -> str:
    """MaxMind's download API URL of one edition's .tar.gz (credentials go in basic auth)."""
    return (
        f"{base_url.rstrip('/')}/geoip/databases/{quote(edition, safe='')}/download?suffix=tar.gz"
    )


def dbip_urls(base_url: str, edition: str, now: datetime) -> tuple[str, str]:
    """This month's and last month's DB-IP lite .mmdb.gz URLs (a month is published late)."""
    if edition not in DBIP_EDITIONS:
        raise ConfigError(
            f"DB-IP edition must be one of {', '.join(DBIP_EDITIONS)}, not {edition!r}"
        )
    prev_year, prev_month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    base = base_url.rstrip("/")
    return (
        f"{base}/dbip-{edition}-lite-{now.year:04d}-{now.month:02d}.mmdb.gz",
        f"{base}/dbip-{edition}-lite-{prev_year:04d}-{prev_month:02d}.mmdb.gz",
    )


def resolve_targets(
    settings: GeoIPSettings, source: GeoIPSource, now: datetime
) -> list[DownloadTarget]:
    """The download targets of one configured source; raises ConfigError when incomplete."""
    kind = source.kind
    name, role = source.name, source.role
    if kind == "maxmind":
        return _maxmind_targets(settings, source)
    if kind == "dbip":
        edition = source.edition or source.url
        if not edition:
            raise ConfigError(f"source {name!r}: set edition = country, city or asn")
        urls = dbip_urls(settings.dbip_base_url, edition, now)
        return [DownloadTarget(name=name, source=name, urls=urls, role=role)]
    if kind == "ip-location-db":
        asset = source.edition or source.url
        if not asset:
            raise ConfigError(f"source {name!r}: set edition to a release file name")
        if not _is_http(asset):
            asset = f"{settings.ip_location_db_base_url.rstrip('/')}/{asset.lstrip('/')}"
        return [DownloadTarget(name=name, source=name, urls=(asset,), role=role)]
    if not source.url:
        raise ConfigError(f"source {name!r}: set url")
    if kind == "url" and _is_http(source.url):
        return [DownloadTarget(name=name, source=name, urls=(source.url,), role=role)]
    if kind == "url" and urlsplit(source.url).scheme not in ("", "file"):
        raise ConfigError(f"source {name!r}: unsupported URL scheme in {source.url!r}")
    local = Path(unquote(urlsplit(source.url).path) if "://" in source.url else source.url)
    return [DownloadTarget(name=name, source=name, local=local.expanduser(), role=role)]


def _maxmind_targets(settings: GeoIPSettings, source: GeoIPSource) -> list[DownloadTarget]:
    account, key = source.account_id, source.license_key
    editions: tuple[str, ...] = (source.edition,) if source.edition else ()
    if source.geoip_conf is not None:
        conf = parse_geoip_conf(source.geoip_conf.expanduser())
        account, key = account or conf.account_id, key or conf.license_key
        editions = editions or conf.edition_ids
    if not account or not key:
        raise ConfigError(
            f"source {source.name!r}: MaxMind needs account_id and license_key (or geoip_conf)"
        )
    if not editions:
        raise ConfigError(f"source {source.name!r}: set edition (e.g. GeoLite2-City)")
    # One edition keeps the source's name; editions listed in GeoIP.conf keep geoipupdate's
    # file names (GeoLite2-City.mmdb) so existing paths stay valid.
    names = [source.name] if source.edition else list(editions)
    for target_name in names:
        if not _SAFE_NAME.fullmatch(target_name):
            raise ConfigError(f"source {source.name!r}: unusable edition id {target_name!r}")
    return [
        DownloadTarget(
            name=target_name,
            source=source.name,
            urls=(maxmind_url(settings.maxmind_base_url, edition),),
            auth=(account, key),
            role=source.role,
        )
        for target_name, edition in zip(names, editions, strict=True)
    ]


def _is_http(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")
