"""Peer names and privacy shared by every node through the ``peers`` table.

Each node edits peers in its own metadata store (SQLite); the store publishes those edits to
ClickHouse and reads everyone's back, and the newest edit of a peer wins everywhere. Peers a
node merely saw in traffic (name = id, never edited) are published with version 0, so they never
override a name or privacy flag set on another node.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from trafficatlas.store.clickhouse.conn import Connection
from trafficatlas.store.metadata import MetadataStore, Peer

REFRESH_S = 10.0


@dataclass(frozen=True, slots=True)
class SharedPeer:
    name: str
    private: bool
    version: int  # microseconds of the edit; 0: only seen in traffic


def _version(peer: Peer) -> int:
    edited = peer.name != peer.id or peer.private or peer.updated_at > peer.created_at
    return int(peer.updated_at * 1_000_000) if edited else 0


class PeerDirectory:
    """This node's view of every node's peers (cached for :data:`REFRESH_S` seconds)."""

    def __init__(self, metadata: MetadataStore | None, insert_settings: dict[str, Any]) -> None:
        self.metadata = metadata
        self._insert_settings = insert_settings
        self._lock = threading.Lock()
        self._shared: dict[str, SharedPeer] = {}
        self._loaded_at = float("-inf")

    def _load(self, conn: Connection) -> None:
        rows = conn.execute(
            "SELECT id, argMax(name, updated), argMax(private, updated), max(updated)"
            " FROM peers GROUP BY id"
        )
        self._shared = {str(i): SharedPeer(str(n), bool(p), int(v)) for i, n, p, v in rows}
        self._loaded_at = time.monotonic()

    def sync(self, conn: Connection, *, force: bool = False) -> None:
        """Publish this node's newer edits and reload everyone's (at most every few seconds)."""
        with self._lock:
            if not force and time.monotonic() - self._loaded_at < REFRESH_S:
                return
            self._load(conn)
            if self.metadata is None:
                return
            local = self.metadata.peers()
            newer = [
                p
                for p in local
                if p.id not in self._shared or _version(p) > self._shared[p.id].version
            ]
            if newer:
                conn.insert(
                    "peers",
                    ("id", "name", "private", "updated"),
                    [
                        [p.id for p in newer],
                        [p.name for p in newer],
                        [int(p.private) for p in newer],
                        [_version(p) for p in newer],
                    ],
                    settings=self._insert_settings,
                )
                self._load(conn)
            unknown = set(self._shared) - {p.id for p in local}
            if unknown:
                # Listed by this node's API too (names come from the shared table).
                self.metadata.ensure_peers(unknown)

    def _merged(self) -> dict[str, SharedPeer]:
        merged = dict(self._shared)
        if self.metadata is not None:
            for p in self.metadata.peers():
                v = _version(p)
                if p.id not in merged or v > merged[p.id].version:
                    merged[p.id] = SharedPeer(p.name, p.private, v)
        return merged

    def names(self) -> dict[str, str]:
        """Display names by peer id (the newest edit on any node)."""
        with self._lock:
            return {pid: p.name for pid, p in self._merged().items()}

    def private_ids(self) -> frozenset[str]:
        """Peers whose geography must not be stored (the newest edit on any node)."""
        with self._lock:
            return frozenset(pid for pid, p in self._merged().items() if p.private)
