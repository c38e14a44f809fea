"""MetadataStore: what users edit (peers and their privacy, key-value settings) in SQLite.

A small SQLite file beside the DuckDB store (default ``<data_dir>/metadata.sqlite3``). Unlike the
DuckDB file, SQLite allows several processes, so the CLI can rename a peer while the daemon runs;
the daemon's write path reads the private flags on every flush. Peers are keyed by a stable id
(what traffic rows carry); the name is only an attribute, so renaming never splits history.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trafficatlas.errors import DatabaseError

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS peers (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
    " private INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
    " updated_at REAL NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class Peer:
    id: str
    name: str
    private: bool
    created_at: float
    updated_at: float


class MetadataStore:
    """Peers and settings in a SQLite file (thread-safe; several processes may open it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path), timeout=10.0, check_same_thread=False, isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open metadata store {path}: {exc}") from None
        try:
            self._init_schema()
        except DatabaseError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise DatabaseError(
                f"metadata store {path} is not a valid SQLite database ({exc}); "
                "the file was left as it is"
            ) from None

    def _init_schema(self) -> None:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise DatabaseError(
                f"metadata store {self.path} has schema version {version}, newer than this "
                f"trafficatlas supports ({SCHEMA_VERSION}); upgrade trafficatlas"
            )
        self._conn.execute("PRAGMA journal_mode=WAL")
        if version < SCHEMA_VERSION:
            self._conn.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA:
                self._conn.execute(stmt)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise DatabaseError(f"metadata store {self.path}: {exc}") from None

    # Peers ------------------------------------------------------------------------------------

    def peers(self) -> list[Peer]:
        """All known peers, by name."""
        rows = self._query(
            "SELECT id, name, private, created_at, updated_at FROM peers ORDER BY name, id"
        )
        return [Peer(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def peer(self, peer_id: str) -> Peer | None:
        rows = self._query(
            "SELECT id, name, private, created_at, updated_at FROM peers WHERE id = ?", [peer_id]
        )
        return (
            Peer(rows[0][0], rows[0][1], bool(rows[0][2]), rows[0][3], rows[0][4]) if rows else None
        )

    def set_peer(
        self, peer_id: str, *, name: str | None = None, private: bool | None = None
    ) -> Peer:
        """Create or update a peer; fields left None keep their value (name defaults to the id)."""
        if not peer_id:
            raise ValueError("a peer id must not be empty")
        now = time.time()
        self._query(
            "INSERT INTO peers (id, name, private, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET name = coalesce(?, name),"
            " private = coalesce(?, private), updated_at = excluded.updated_at",
            [
                peer_id,
                name if name is not None else peer_id,
                int(bool(private)),
                now,
                now,
                name,
                None if private is None else int(private),
            ],
        )
        peer = self.peer(peer_id)
        assert peer is not None
        return peer

    def ensure_peers(self, peer_ids: Iterable[str]) -> int:
        """Register peers seen in traffic (name = id); returns how many were new."""
        ids = sorted({p for p in peer_ids if p})
        if not ids:
            return 0
        now = time.time()
        with self._lock:
            try:
                before = self._conn.total_changes
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT OR IGNORE INTO peers VALUES (?, ?, 0, ?, ?)",
                    [(p, p, now, now) for p in ids],
                )
                self._conn.execute("COMMIT")
                return self._conn.total_changes - before
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise DatabaseError(f"metadata store {self.path}: {exc}") from None

    def private_peer_ids(self) -> frozenset[str]:
        """Ids of peers whose geography must not be stored."""
        return frozenset(r[0] for r in self._query("SELECT id FROM peers WHERE private = 1"))

    def peer_names(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self._query("SELECT id, name FROM peers")}

    # Settings ---------------------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        """A setting's JSON value, or ``default``."""
        rows = self._query("SELECT value FROM settings WHERE key = ?", [key])
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serializable value."""
        text = json.dumps(value)
        self._query(
            "INSERT INTO settings VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " value = excluded.value, updated_at = excluded.updated_at",
            [key, text, time.time()],
        )

    def delete_setting(self, key: str) -> bool:
        with self._lock:
            cur = self._conn.execute("DELETE FROM settings WHERE key = ?", (key,))
            return cur.rowcount > 0

    def all_settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._query("SELECT key, value FROM settings")}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
