"""Shared CLI helpers: settings and the GeoIP engine, built the same way for every command."""

from __future__ import annotations

from pathlib import Path

from trafficatlas.enrich.engine import GeoIP
from trafficatlas.logging import configure_logging
from trafficatlas.settings import GeoIPDatabase, Settings, load_settings


def settings_from(config: Path | None, geoip_dbs: list[Path] | None = None) -> Settings:
    """Settings from the config file/env, plus databases given on the command line first."""
    settings = load_settings(config)
    configure_logging(
        settings.log.level if settings.log.level != "info" else "warning", settings.log.format
    )
    if geoip_dbs:
        extra = [GeoIPDatabase(path=p) for p in geoip_dbs]
        settings.geoip.databases = extra + settings.geoip.databases
    return settings


def geoip_engine(settings: Settings) -> GeoIP:
    """A loaded GeoIP engine, built as the server builds it."""
    return GeoIP.from_settings(settings)
