"""Peers: stable small integer ids for WireGuard public keys, and their configured attributes.

A peer *is* its public key. :class:`PeerRegistry` gives every key a small integer id (> 0, the
``owner_id`` the classify stage writes into flows) the first time it is seen and keeps the
key → id map in a small JSON file, so ids survive restarts. Names and the privacy flag are
attributes from the configuration (``[[wireguard.peers]]``): they can change at any time without
changing the id, so a rename never splits a peer's history. Ids are never reused.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from pydantic import field_validator

from trafficatlas.errors import DatabaseError
from trafficatlas.section import Section

FILE_VERSION = 1
MAX_ID = 0xFFFF_FFFF


def check_public_key(value: str) -> str:
    """The key itself when it is a WireGuard public key (base64 of 32 bytes), else ValueError."""
    text = value.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a WireGuard public key (base64 of 32 bytes expected)") from None
    if len(raw) != 32 or len(text) != 44:
        raise ValueError("not a WireGuard public key (base64 of 32 bytes expected)")
    return text


class PeerConfig(Section):
    """Attributes of one peer, from ``[[wireguard.peers]]``; the key identifies it."""

    public_key: str
    name: str = ""
    # Keep the peer out of geography (its endpoint is never geolocated); totals still count.
    private: bool = False

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_public_key(value)


class PeerRegistry:
    """Public key → stable integer id, persisted in ``path`` (None: this process only)."""

    def __init__(self, path: Path | None = None, peers: Iterable[PeerConfig] = ()) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        self._next = 1
        self._config: dict[str, PeerConfig] = {}
        if path is not None:
            self._load(path)
        self.configure(peers)

    # -- ids -----------------------------------------------------------------------------------

    def id_for(self, key: str) -> int:
        """The key's id, allocated (and saved) on first sight."""
        return self.ids_for([key])[key]

    def ids_for(self, keys: Iterable[str]) -> dict[str, int]:
        """Ids of many keys; new keys are allocated and saved in one write."""
        with self._lock:
            out: dict[str, int] = {}
            new: dict[str, int] = {}
            next_id = self._next
            for key in keys:
                pid = self._ids.get(key, new.get(key))
                if pid is None:
                    if next_id > MAX_ID:
                        raise DatabaseError("peer registry is full: no peer id left")
                    pid = new[key] = next_id
                    next_id += 1
                out[key] = pid
            if new:
                # saved before use: an id handed out is an id that survives a restart
                self._save({**self._ids, **new}, next_id)
                self._ids.update(new)
                self._keys.update({pid: key for key, pid in new.items()})
                self._next = next_id
            return out

    def get(self, key: str) -> int | None:
        """The key's id if it has one (never allocates)."""
        with self._lock:
            return self._ids.get(key)

    def key_for(self, peer_id: int) -> str | None:
        """The public key behind an id."""
        with self._lock:
            return self._keys.get(peer_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    # -- attributes ----------------------------------------------------------------------------

    def configure(self, peers: Iterable[PeerConfig]) -> None:
        """Replace the configured attributes (names, privacy); ids are unaffected."""
        config = {p.public_key: p for p in peers}
        with self._lock:
            self._config = config

    def name(self, peer_id: int) -> str:
        """Configured name of a peer, else a short form of its key, else ``peer-<id>``."""
        with self._lock:
            key = self._keys.get(peer_id)
            conf = self._config.get(key) if key is not None else None
        if conf is not None and conf.name:
            return conf.name
        return key[:8] if key is not None else f"peer-{peer_id}"

    def name_of_key(self, key: str) -> str:
        """Configured name of the peer with this key ("" when none)."""
        with self._lock:
            conf = self._config.get(key)
        return conf.name if conf is not None else ""

    def is_private(self, key: str) -> bool:
        """Whether the peer opted out of geography."""
        with self._lock:
            conf = self._config.get(key)
        return conf is not None and conf.private

    def private_ids(self) -> set[int]:
        """Ids of the private peers that have an id."""
        with self._lock:
            return {
                self._ids[k] for k, conf in self._config.items() if conf.private and k in self._ids
            }

    # -- file ----------------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise DatabaseError(f"cannot read peer registry {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise DatabaseError(f"peer registry {path} is not UTF-8 text") from None
        # A damaged file is an error, not a fresh start: new ids would split every peer's history.
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatabaseError(f"peer registry {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
            raise DatabaseError(f"peer registry {path} has an unknown format (version 1 expected)")
        peers = data.get("peers")
        next_id = data.get("next_id")
        if not isinstance(peers, dict) or not isinstance(next_id, int):
            raise DatabaseError(f"peer registry {path} lacks its 'peers' or 'next_id' entries")
        for key, pid in peers.items():
            try:
                check_public_key(key)
            except ValueError:
                raise DatabaseError(f"peer registry {path} holds an invalid key {key!r}") from None
            if not isinstance(pid, int) or not 0 < pid <= MAX_ID or pid in self._keys:
                raise DatabaseError(f"peer registry {path} holds an invalid id for {key}: {pid}")
            self._ids[key] = pid
            self._keys[pid] = key
        self._next = max(next_id, max(self._keys, default=0) + 1)

    def _save(self, ids: dict[str, int], next_id: int) -> None:
        if self.path is None:
            return
        data = {"version": FILE_VERSION, "next_id": next_id, "peers": ids}
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".peers-", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, indent=1, sort_keys=True)
                    fh.write("\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)  # readers see the old or the new map, never half of one
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise DatabaseError(f"cannot write peer registry {path}: {exc.strerror}") from None
