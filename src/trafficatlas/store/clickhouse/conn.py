"""Connections to a ClickHouse engine: a server over the native protocol (clickhouse-driver).

A :class:`Connection` runs one statement and returns rows, or inserts columns as one block. Every
failure surfaces as one of three typed errors: :class:`~trafficatlas.store.errors.StoreUnavailable`
(unreachable, timeout, overloaded: retry later), :class:`~trafficatlas.errors.ConfigError` (bad
credentials, unknown cluster) or :class:`~trafficatlas.errors.DatabaseError` (anything else).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from trafficatlas.errors import ConfigError, DatabaseError
from trafficatlas.store.clickhouse.sqlfmt import format_query
from trafficatlas.store.errors import StoreUnavailable
from trafficatlas.store.settings import ClickHouseSettings

# Server error codes after which the same request may succeed later.
RETRYABLE_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        242,  # TABLE_IS_READ_ONLY
        252,  # TOO_MANY_PARTS (inserts throttled until merges catch up)
        279,  # ALL_CONNECTION_TRIES_FAILED
        319,  # UNKNOWN_STATUS_OF_INSERT
    }
)
# Server error codes that mean the settings are wrong (user, password, cluster name).
CONFIG_CODES = frozenset({170, 192, 193, 194, 516})


class Connection(Protocol):
    """One ClickHouse session: statements in, rows out (thread-safe)."""

    kind: str  # "server" or "chdb"

    def execute(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Run one statement with ``%(name)s`` parameters; rows as tuples."""
        ...

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert columns (one sequence per column, equal lengths) as one block."""
        ...

    def close(self) -> None: ...


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of a ``version()`` string such as "18.16.1" or "26.9.2.1"."""
    parts = text.strip().split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise DatabaseError(f"unrecognized ClickHouse version {text!r}") from None


def translate_driver_error(exc: BaseException, where: str) -> Exception:
    """The typed error for a clickhouse-driver (or socket) exception."""
    from clickhouse_driver import errors  # type: ignore[import-untyped]

    if isinstance(exc, errors.ServerException):
        first = str(exc.message).strip().splitlines()[0] if exc.message else str(exc)
        text = f"ClickHouse {where}: {first} (code {exc.code})"
        if exc.code in RETRYABLE_CODES:
            return StoreUnavailable(text)
        if exc.code in CONFIG_CODES:
            return ConfigError(f"{text}; check store.clickhouse settings")
        return DatabaseError(text)
    if isinstance(exc, errors.NetworkError | errors.SocketTimeoutError | OSError | EOFError):
        return StoreUnavailable(f"ClickHouse {where}: {exc}")
    if isinstance(exc, errors.Error):
        return DatabaseError(f"ClickHouse {where}: {exc}")
    return DatabaseError(f"ClickHouse {where}: {type(exc).__name__}: {exc}")


class DriverConnection:
    """A ClickHouse server over the native protocol; one socket, used under a lock.

    The driver reconnects by itself on the next call after a network error.
    """

    kind = "server"

    def __init__(self, settings: ClickHouseSettings, database: str) -> None:
        try:
            from clickhouse_driver import Client
        except ImportError:
            raise ConfigError(
                "store.engine = 'clickhouse' needs the clickhouse extra: "
                "pip install 'trafficatlas[clickhouse]'"
            ) from None

        if not settings.host.strip():
            raise ConfigError("store.clickhouse.host must not be empty")
        self._where = f"at {settings.host}:{settings.port}"
        self._lock = threading.Lock()
        self._client = Client(
            host=settings.host,
            port=settings.port,
            database=database,
            user=settings.user,
            password=settings.password,
            secure=settings.secure,
            connect_timeout=settings.connect_timeout_s,
            send_receive_timeout=settings.send_receive_timeout_s,
            sync_request_timeout=settings.connect_timeout_s,
            client_name="trafficatlas",
        )

    def execute(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        text = format_query(sql, params)
        with self._lock:
            try:
                rows = self._client.execute(text, settings=dict(settings or {}))
            except Exception as exc:
                raise translate_driver_error(exc, self._where) from None
        return [tuple(r) for r in rows] if isinstance(rows, list) else []

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        with self._lock:
            try:
                self._client.execute(sql, list(data), columnar=True, settings=dict(settings or {}))
            except Exception as exc:
                raise translate_driver_error(exc, self._where) from None

    def close(self) -> None:
        with self._lock:
            self._client.disconnect()
