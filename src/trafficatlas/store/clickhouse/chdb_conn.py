"""chDB: the current ClickHouse engine in-process (tests of current-server DDL and queries).

chDB runs one embedded engine per process, bound to one data folder until every connection to it
is closed; each connection keeps its own current database. Installed with the dev dependencies.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trafficatlas.errors import ConfigError, DatabaseError
from trafficatlas.store.clickhouse.sqlfmt import format_query, quote

# TabSeparated escapes (the same backslash sequences ClickHouse writes).
_TSV = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _tsv_column(values: Sequence[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.append(v.translate(_TSV))
        elif isinstance(v, float):
            out.append(repr(v))
        else:
            out.append(str(int(v)))
    return out


class ChdbConnection:
    """A connection to the in-process chDB engine whose data lives in ``path``."""

    kind = "chdb"

    def __init__(self, path: Path, database: str | None = None) -> None:
        try:
            import chdb
        except ImportError:
            raise ConfigError(
                "chDB is not installed (uv sync installs it with the dev group)"
            ) from None
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._conn = chdb.connect(str(path))
        except (OSError, RuntimeError) as exc:
            raise DatabaseError(f"cannot open chDB at {path}: {exc}") from None
        self._cursor = self._conn.cursor()
        self._lock = threading.Lock()
        self._closed = False
        if database is not None:
            self.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
            self.execute(f"USE {database}")

    def execute(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        text = format_query(sql, params)
        if settings:
            text += " SETTINGS " + ", ".join(f"{k} = {quote(v)}" for k, v in settings.items())
        with self._lock:
            if self._closed:
                raise DatabaseError("the chDB connection is closed")
            try:
                self._cursor.execute(text)
                return [tuple(r) for r in self._cursor.fetchall()]
            except RuntimeError as exc:  # chdb.ChdbError
                raise DatabaseError(f"chDB: {str(exc).strip().splitlines()[0]}") from None

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        cols = [_tsv_column(c) for c in data]
        body = "\n".join("\t".join(row) for row in zip(*cols, strict=True))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) FORMAT TabSeparated\n{body}\n"
        with self._lock:
            if self._closed:
                raise DatabaseError("the chDB connection is closed")
            try:
                self._cursor.execute(sql)
            except RuntimeError as exc:
                raise DatabaseError(f"chDB insert: {str(exc).strip().splitlines()[0]}") from None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cursor.close()
                self._conn.close()
