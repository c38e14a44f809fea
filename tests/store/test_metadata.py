"""MetadataStore: peers keyed by stable id, settings, bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trafficatlas.errors import DatabaseError
from trafficatlas.store import MetadataStore


def test_peers_are_keyed_by_id_and_renaming_keeps_it(tmp_path: Path) -> None:
    with MetadataStore(tmp_path / "m.sqlite3") as meta:
        assert meta.ensure_peers(["k1", "k2", "k1", ""]) == 2
        assert meta.ensure_peers(["k1"]) == 0
        created = meta.peer("k1")
        assert created is not None and created.name == "k1" and not created.private
        renamed = meta.set_peer("k1", name="Alice's laptop")
        assert renamed.id == "k1" and renamed.created_at == created.created_at
        assert not renamed.private  # untouched fields keep their value
        meta.set_peer("k1", private=True)
        assert meta.peer("k1").name == "Alice's laptop"  # type: ignore[union-attr]
        assert meta.private_peer_ids() == frozenset({"k1"})
        assert meta.peer_names() == {"k1": "Alice's laptop", "k2": "k2"}
        assert [p.id for p in meta.peers()] == ["k1", "k2"]
        assert meta.peer("nope") is None
        with pytest.raises(ValueError, match="empty"):
            meta.set_peer("")
    with MetadataStore(tmp_path / "m.sqlite3") as meta:  # persisted
        assert meta.private_peer_ids() == frozenset({"k1"})


def test_settings_hold_json_values(tmp_path: Path) -> None:
    with MetadataStore(tmp_path / "m.sqlite3") as meta:
        assert meta.get_setting("views", []) == []
        meta.set_setting("views", [{"name": "CH", "filters": {"country": ["CH"]}}])
        meta.set_setting("alerts.enabled", True)
        assert meta.get_setting("views") == [{"name": "CH", "filters": {"country": ["CH"]}}]
        assert meta.all_settings()["alerts.enabled"] is True
        assert meta.delete_setting("alerts.enabled")
        assert not meta.delete_setting("alerts.enabled")


def test_corrupt_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    path.write_bytes(b"definitely not sqlite" * 100)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="not a valid SQLite database"):
        MetadataStore(path)
    assert path.read_bytes() == before


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 42")
    conn.close()
    with pytest.raises(DatabaseError, match="schema version 42"):
        MetadataStore(path)
