"""Errors a user can cause: each renders as one clear message in the CLI and the API."""

from __future__ import annotations


class TrafficAtlasError(Exception):
    """Base class of errors caused by input, configuration or environment (not bugs)."""


class ConfigError(TrafficAtlasError):
    """The configuration file or environment holds an invalid value."""


class DatabaseError(TrafficAtlasError):
    """A GeoIP/ASN database or the store cannot be read or is corrupt."""


class DecodeError(TrafficAtlasError):
    """A datagram, capture or record cannot be decoded.

    ``kind`` is a short stable label used as a metric label (e.g. ``"truncated"``).
    """

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


class DownloadError(TrafficAtlasError):
    """A database download or update failed."""
