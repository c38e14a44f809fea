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

SCHEMA_VERSION = 2

# Statements of each schema version, applied in order to files below it (one transaction each).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE IF NOT EXISTS peers (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " private INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
        " updated_at REAL NOT NULL)",
    ),
    # Users, login sessions, API tokens, login failures and the audit log of the HTTP API.
    # Secrets are stored as hashes only (argon2id for passwords, SHA-256 for random tokens).
    2: (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
        " password_hash TEXT NOT NULL, role TEXT NOT NULL, peer_id TEXT,"
        " disabled INTEGER NOT NULL DEFAULT 0, totp_secret TEXT,"
        " totp_enabled INTEGER NOT NULL DEFAULT 0, totp_last_step INTEGER NOT NULL DEFAULT 0,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL,"
        " created_at REAL NOT NULL, last_seen_at REAL NOT NULL, expires_at REAL NOT NULL,"
        " client TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX sessions_user ON sessions (user_id)",
        "CREATE TABLE api_tokens (id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,"
        " name TEXT NOT NULL, scope TEXT NOT NULL, peer_id TEXT, created_by TEXT NOT NULL,"
        " created_at REAL NOT NULL, expires_at REAL, last_used_at REAL, revoked_at REAL)",
        "CREATE TABLE login_failures (username TEXT PRIMARY KEY COLLATE NOCASE,"
        " failures INTEGER NOT NULL, last_failure_at REAL NOT NULL,"
        " locked_until REAL NOT NULL DEFAULT 0)",
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,"
        " actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',"
        " client TEXT NOT NULL DEFAULT '', success INTEGER NOT NULL,"
        " detail TEXT NOT NULL DEFAULT '{}')",
        "CREATE INDEX audit_log_ts ON audit_log (ts)",
    ),
}


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
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # another process may have migrated meanwhile: re-read under the write lock
                now = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
                if now < target:
                    for stmt in _MIGRATIONS[target]:
                        self._conn.execute(stmt)
                    self._conn.execute(f"PRAGMA user_version = {target}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise DatabaseError(f"metadata store {self.path}: {exc}") from None

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Run one statement for a component keeping its own tables here (auth); its rows."""
        return self._query(sql, params)

    def execute_count(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one changing statement; the number of rows it changed."""
        with self._lock:
            try:
                return int(self._conn.execute(sql, tuple(params)).rowcount)
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
