"""Settings: defaults < TOML file < ``TRAFFICATLAS_*`` environment variables.

Nested keys use ``__`` in the environment, e.g. ``TRAFFICATLAS_GEOIP__CACHE_DIR=/tmp/c``.
Each component owns a settings model here; ``conf/trafficatlas.example.toml`` documents them all.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from trafficatlas.aggregate.aggregator import AggregatorSettings
from trafficatlas.api.settings import APISettings
from trafficatlas.auth.settings import AuthSettings
from trafficatlas.classify.settings import ClassifySettings
from trafficatlas.errors import ConfigError
from trafficatlas.section import Section
from trafficatlas.sources.collector import CollectorSettings
from trafficatlas.sources.conntrack_source import ConntrackSettings
from trafficatlas.sources.wireguard import WireGuardSettings
from trafficatlas.store.settings import StoreSettings

ENV_PREFIX = "TRAFFICATLAS_"
CONFIG_ENV = "TRAFFICATLAS_CONFIG"


def default_data_dir() -> Path:
    """Where state lives: /var/lib/trafficatlas for root, else the XDG data folder."""
    if os.geteuid() == 0:
        return Path("/var/lib/trafficatlas")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trafficatlas"


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["console", "json"] = "console"


class GeoIPDatabase(Section):
    """One GeoIP/ASN database file the user provides (.mmdb or ASN .csv ranges)."""

    path: Path
    # What to take from it; "auto" uses whatever fields the records have.
    role: Literal["auto", "country", "city", "asn"] = "auto"


class GeoIPSource(Section):
    """Where `geoip update` fetches a database from."""

    name: str
    kind: Literal["maxmind", "dbip", "ip-location-db", "url", "file"] = "url"
    # url/file: the location; dbip: "country" | "city" | "asn" edition (monthly lite URL)
    url: str = ""
    # maxmind: edition id (GeoLite2-City, GeoLite2-ASN, ...), account and key, or GeoIP.conf
    edition: str = ""
    account_id: str = ""
    license_key: str = ""
    geoip_conf: Path | None = None
    role: Literal["auto", "country", "city", "asn"] = "auto"

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        # The name becomes <download_dir>/<name>.mmdb: it must not reach outside that folder.
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
            raise ValueError(f"source name {value!r} must be letters, digits, '.', '_' or '-'")
        return value


class GeoIPSettings(Section):
    # Use the country + ASN tables shipped inside the package (DB-IP lite, CC BY 4.0).
    use_bundled: bool = True
    # Extra databases, most specific wins: a city DB's country overrides the bundled country.
    databases: list[GeoIPDatabase] = Field(default_factory=list)
    # Range tables built from .mmdb files are cached here (default: <data_dir>/cache/geoip).
    cache_dir: Path | None = None
    # Reserved ranges (private, documentation, ...) are labelled, not looked up, except these
    # CIDRs: useful for a custom database that maps the site's own private ranges.
    lookup_reserved: list[str] = Field(default_factory=list)
    # Downloaded databases go to <data_dir>/geoip unless set.
    download_dir: Path | None = None
    update_schedule: Literal["manual", "weekly", "monthly"] = "manual"
    sources: list[GeoIPSource] = Field(default_factory=list)
    # Base URLs of the download services: point them at a mirror (or a test server).
    maxmind_base_url: str = "https://download.maxmind.com"
    dbip_base_url: str = "https://download.db-ip.com/free"
    ip_location_db_base_url: str = (
        "https://github.com/sapics/ip-location-db/releases/download/latest"
    )
    # A download (and the database unpacked from it) larger than this is refused.
    download_max_bytes: int = Field(default=1 << 30, gt=0)
    # Connect/read timeout of one download request (seconds).
    download_timeout_s: float = Field(default=60.0, gt=0)
    # How often a running process checks its database files for changes (seconds).
    reload_check_s: float = Field(default=60.0, gt=0)

    @field_validator("lookup_reserved")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not a CIDR: {item!r}") from None
        return value


class PipelineSettings(Section):
    # Source batches waiting for the worker; beyond this, batches are dropped and counted.
    queue_batches: int = Field(default=512, ge=1)
    # How often closed buckets are written to the store (seconds).
    flush_interval_s: float = Field(default=2.0, gt=0)
    # How often the store rolls up tiers and applies retention (seconds).
    maintenance_interval_s: float = Field(default=300.0, gt=0)


class HTTPSettings(Section):
    # The dashboard and API listen here. Data endpoints require authentication.
    host: str = "127.0.0.1"
    port: int = Field(default=8650, ge=0, le=65535)
    # The owner-only Unix socket local commands (`trafficatlas top`) use while the server runs;
    # default: <data_dir>/trafficatlas.sock (mode 0600: file permissions are the credential).
    socket: Path | None = None


class Settings(BaseSettings):
    """All settings of one trafficatlas process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    # What `serve` runs: "all" (one process), "collector" (sources + pipeline into the shared
    # store) or "api" (API and dashboard over the shared store); see runtime.check_role.
    role: Literal["all", "collector", "api"] = "all"
    log: LogSettings = Field(default_factory=LogSettings)
    geoip: GeoIPSettings = Field(default_factory=GeoIPSettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    conntrack: ConntrackSettings = Field(default_factory=ConntrackSettings)
    wireguard: WireGuardSettings = Field(default_factory=WireGuardSettings)
    aggregate: AggregatorSettings = Field(default_factory=AggregatorSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    http: HTTPSettings = Field(default_factory=HTTPSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    api: APISettings = Field(default_factory=APISettings)

    @model_validator(mode="after")
    def _one_interval(self) -> Settings:
        if self.store.interval_s != self.aggregate.interval_s:
            raise ValueError(
                f"store.interval_s ({self.store.interval_s}) and aggregate.interval_s "
                f"({self.aggregate.interval_s}) must be equal"
            )
        return self

    def socket_path(self) -> Path:
        return self.http.socket or self.data_dir / "trafficatlas.sock"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init kwargs carry the TOML file's content (see load_settings); env overrides them.
        return (env_settings, init_settings)

    def geoip_cache_dir(self) -> Path:
        return self.geoip.cache_dir or self.data_dir / "cache" / "geoip"

    def geoip_download_dir(self) -> Path:
        return self.geoip.download_dir or self.data_dir / "geoip"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML config file, turning every failure into a ConfigError."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except PermissionError:
        raise ConfigError(f"config file not readable (permission denied): {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from defaults, the TOML file (``config`` or $TRAFFICATLAS_CONFIG) and env.

    Raises ConfigError naming the offending key on any invalid value.
    """
    if config is None and os.environ.get(CONFIG_ENV):
        config = Path(os.environ[CONFIG_ENV])
    data: dict[str, Any] = read_toml(config) if config is not None else {}
    data = _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, config)) from None


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(exc: ValidationError, config: Path | None) -> str:
    """One readable message listing every invalid key."""
    where = f" in {config}" if config else ""
    lines = [f"invalid configuration{where}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)
