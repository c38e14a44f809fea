"""`trafficatlas user ...` and `trafficatlas token ...` on a real metadata store."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trafficatlas.cli.app import build_app
from trafficatlas.errors import TrafficAtlasError


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRAFFICATLAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRAFFICATLAS_AUTH__ARGON2_MEMORY_KIB", "8192")
    monkeypatch.setenv("TRAFFICATLAS_AUTH__ARGON2_TIME_COST", "1")
    monkeypatch.delenv("TRAFFICATLAS_CONFIG", raising=False)
    runner = CliRunner()
    app = build_app()

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=stdin)

    invoke.db = tmp_path / "metadata.sqlite3"  # type: ignore[attr-defined]
    return invoke


def test_user_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    r = run(
        "user",
        "add",
        "alice",
        "--role",
        "peer",
        "--peer",
        "peer-7",
        "--password-stdin",
        stdin="a fine long password\n",
    )
    assert r.exit_code == 0, r.output
    r = run("user", "add", "bob", "--generate")
    assert r.exit_code == 0, r.output
    generated = r.stdout.strip().splitlines()[-1]
    assert len(generated) >= 20
    # refusals are user errors (the CLI prints them as one line), not crashes
    for refused in (
        run("user", "add", "carol", "--password-stdin", stdin="short\n"),
        run("user", "add", "dave", "--role", "peer", "--generate"),  # no --peer
        run("user", "add", "alice", "--generate"),  # exists
        run("user", "add", "bad name!", "--generate"),
    ):
        assert isinstance(refused.exception, TrafficAtlasError), refused.output
    assert (
        run(
            "user", "passwd", "alice", "--password-stdin", stdin="another long password\n"
        ).exit_code
        == 0
    )
    assert run("user", "disable", "bob").exit_code == 0
    assert run("user", "passwd", "nobody", "--generate").exit_code != 0
    listed = json.loads(run("user", "list", "--json").stdout)
    assert {u["username"]: (u["role"], u["peer_id"], u["disabled"]) for u in listed} == {
        "alice": ("peer", "peer-7", False),
        "bob": ("viewer", None, True),
    }
    with sqlite3.connect(run.db) as db:
        stored = dict(db.execute("SELECT username, password_hash FROM users"))
        actions = [r[0] for r in db.execute("SELECT action FROM audit_log ORDER BY id")]
    assert all(h.startswith("$argon2id$") for h in stored.values())
    assert "another long password" not in str(stored) and generated not in str(stored)
    assert actions == ["user.add", "user.add", "user.passwd", "user.update"]


def test_token_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    r = run("token", "create", "--scope", "read", "--peer", "peer-7", "--name", "grafana")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("tat_")
    for refused in (
        run("token", "create", "--scope", "admin", "--peer", "x"),
        run("token", "create", "--expires", "soon"),
    ):
        assert isinstance(refused.exception, TrafficAtlasError), refused.output
    listed = json.loads(run("token", "list", "--json").stdout)
    assert [(t["name"], t["scope"], t["peer_id"], t["revoked_at"]) for t in listed] == [
        ("grafana", "read", "peer-7", None)
    ]
    with sqlite3.connect(run.db) as db:
        assert (
            db.execute("SELECT token_hash FROM api_tokens").fetchone()[0]
            == hashlib.sha256(token.encode()).hexdigest()
        )
        assert token not in "\n".join(db.iterdump())
    assert run("token", "revoke", listed[0]["id"]).exit_code == 0
    again = run("token", "revoke", listed[0]["id"])  # already revoked
    assert isinstance(again.exception, TrafficAtlasError)
    assert json.loads(run("token", "list", "--json").stdout)[0]["revoked_at"] is not None
