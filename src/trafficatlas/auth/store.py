"""AuthStore: users, sessions, API tokens and login failures in the metadata store (SQLite).

Several processes share the file (the daemon and `trafficatlas user|token` commands), so every
operation is one SQL statement, atomic on its own; nothing is cached across requests, so a
revoked token or disabled user is refused from the next request on.
"""

from __future__ import annotations

import time
from typing import Any

from trafficatlas.auth.models import ApiToken, Role, Scope, User
from trafficatlas.errors import ConfigError
from trafficatlas.store.metadata import MetadataStore

_USER_COLS = "id, username, role, peer_id, disabled, totp_enabled, created_at, updated_at"
_TOKEN_COLS = (
    "id, name, scope, peer_id, created_by, created_at, expires_at, last_used_at, revoked_at"
)


def _user(row: Any) -> User:
    return User(
        id=int(row[0]),
        username=str(row[1]),
        role=Role(row[2]),
        peer_id=row[3],
        disabled=bool(row[4]),
        totp_enabled=bool(row[5]),
        created_at=float(row[6]),
        updated_at=float(row[7]),
    )


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=str(row[0]),
        name=str(row[1]),
        scope=Scope(row[2]),
        peer_id=row[3],
        created_by=str(row[4]),
        created_at=float(row[5]),
        expires_at=row[6],
        last_used_at=row[7],
        revoked_at=row[8],
    )


def check_role_peer(role: Role, peer_id: str | None) -> None:
    """A peer account needs a peer id; other roles must not have one."""
    if role == Role.PEER and not peer_id:
        raise ConfigError("a user with role 'peer' needs a peer id (--peer)")
    if role != Role.PEER and peer_id:
        raise ConfigError("only users with role 'peer' are tied to a peer id")


class AuthStore:
    """SQL for the auth tables (created by the metadata store's migration 2)."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.db = metadata

    # Users ------------------------------------------------------------------------------------

    def count_users(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM users")[0][0])

    def users(self) -> list[User]:
        return [_user(r) for r in self.db.execute(f"SELECT {_USER_COLS} FROM users ORDER BY id")]

    def user(self, username: str) -> User | None:
        rows = self.db.execute(f"SELECT {_USER_COLS} FROM users WHERE username = ?", [username])
        return _user(rows[0]) if rows else None

    def user_by_id(self, user_id: int) -> User | None:
        rows = self.db.execute(f"SELECT {_USER_COLS} FROM users WHERE id = ?", [user_id])
        return _user(rows[0]) if rows else None

    def password_hash(self, username: str) -> str | None:
        rows = self.db.execute("SELECT password_hash FROM users WHERE username = ?", [username])
        return str(rows[0][0]) if rows else None

    def add_user(
        self, username: str, password_hash: str, role: Role, peer_id: str | None = None
    ) -> User:
        """Create a user; ConfigError when the name is taken or the role/peer pair is invalid."""
        check_role_peer(role, peer_id)
        now = time.time()
        if self.user(username) is not None:
            raise ConfigError(f"user {username!r} already exists")
        self.db.execute(
            "INSERT INTO users (username, password_hash, role, peer_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [username, password_hash, role.value, peer_id, now, now],
        )
        user = self.user(username)
        assert user is not None
        return user

    def set_password(self, user_id: int, password_hash: str) -> None:
        self.db.execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?",
            [password_hash, time.time(), user_id],
        )

    def update_user(
        self,
        user_id: int,
        *,
        role: Role | None = None,
        peer_id: str | None = None,
        disabled: bool | None = None,
    ) -> None:
        """Change role (with its peer id) and/or the disabled flag."""
        if role is not None:
            check_role_peer(role, peer_id)
            self.db.execute(
                "UPDATE users SET role = ?, peer_id = ?, updated_at = ? WHERE id = ?",
                [role.value, peer_id, time.time(), user_id],
            )
        if disabled is not None:
            self.db.execute(
                "UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?",
                [int(disabled), time.time(), user_id],
            )

    def totp_state(self, user_id: int) -> tuple[str | None, bool, int]:
        """(secret, enabled, last used step) of a user."""
        rows = self.db.execute(
            "SELECT totp_secret, totp_enabled, totp_last_step FROM users WHERE id = ?", [user_id]
        )
        return (rows[0][0], bool(rows[0][1]), int(rows[0][2])) if rows else (None, False, 0)

    def set_totp(self, user_id: int, secret: str | None, enabled: bool) -> None:
        self.db.execute(
            "UPDATE users SET totp_secret = ?, totp_enabled = ?, totp_last_step = 0,"
            " updated_at = ? WHERE id = ?",
            [secret, int(enabled), time.time(), user_id],
        )

    def use_totp_step(self, user_id: int, step: int) -> bool:
        """Record a used TOTP step; False when it (or a later one) was used already (replay)."""
        return (
            self.db.execute_count(
                "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
                [step, user_id, step],
            )
            == 1
        )

    # Sessions ---------------------------------------------------------------------------------

    def add_session(self, token_hash: str, user_id: int, expires_at: float, client: str) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            [token_hash, user_id, now, now, expires_at, client],
        )

    def session(self, token_hash: str) -> tuple[int, float, float, float] | None:
        """(user id, created_at, last_seen_at, expires_at) of a session."""
        rows = self.db.execute(
            "SELECT user_id, created_at, last_seen_at, expires_at FROM sessions"
            " WHERE token_hash = ?",
            [token_hash],
        )
        return (int(rows[0][0]), rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def touch_session(self, token_hash: str, now: float) -> None:
        self.db.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", [now, token_hash]
        )

    def delete_session(self, token_hash: str) -> bool:
        return self.db.execute_count("DELETE FROM sessions WHERE token_hash = ?", [token_hash]) > 0

    def delete_user_sessions(self, user_id: int) -> int:
        return self.db.execute_count("DELETE FROM sessions WHERE user_id = ?", [user_id])

    def purge_sessions(self, now: float, idle_s: float) -> int:
        """Remove sessions past their absolute or idle expiry."""
        return self.db.execute_count(
            "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?", [now, now - idle_s]
        )

    # API tokens -------------------------------------------------------------------------------

    def add_token(
        self,
        token_id: str,
        token_hash: str,
        name: str,
        scope: Scope,
        peer_id: str | None,
        created_by: str,
        expires_at: float | None,
    ) -> ApiToken:
        self.db.execute(
            "INSERT INTO api_tokens (id, token_hash, name, scope, peer_id, created_by,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [token_id, token_hash, name, scope.value, peer_id, created_by, time.time(), expires_at],
        )
        token = self.token(token_id)
        assert token is not None
        return token

    def tokens(self) -> list[ApiToken]:
        rows = self.db.execute(f"SELECT {_TOKEN_COLS} FROM api_tokens ORDER BY created_at, id")
        return [_token(r) for r in rows]

    def token(self, token_id: str) -> ApiToken | None:
        rows = self.db.execute(f"SELECT {_TOKEN_COLS} FROM api_tokens WHERE id = ?", [token_id])
        return _token(rows[0]) if rows else None

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        rows = self.db.execute(
            f"SELECT {_TOKEN_COLS} FROM api_tokens WHERE token_hash = ?", [token_hash]
        )
        return _token(rows[0]) if rows else None

    def touch_token(self, token_id: str, now: float) -> None:
        self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [now, token_id])

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token; False when there is no such (unrevoked) token."""
        return (
            self.db.execute_count(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                [time.time(), token_id],
            )
            > 0
        )

    # Login failures ---------------------------------------------------------------------------

    def locked_until(self, username: str) -> float:
        rows = self.db.execute(
            "SELECT locked_until FROM login_failures WHERE username = ?", [username]
        )
        return float(rows[0][0]) if rows else 0.0

    def record_failure(
        self, username: str, now: float, threshold: int, lock_s: float
    ) -> tuple[int, float]:
        """Count a failed login; locks the name at ``threshold``. (failures, locked_until)."""
        self.db.execute(
            "INSERT INTO login_failures VALUES (?, 1, ?, 0) ON CONFLICT(username) DO UPDATE SET"
            " failures = CASE WHEN locked_until > 0 AND locked_until <= excluded.last_failure_at"
            " THEN 1 ELSE failures + 1 END, locked_until = CASE WHEN locked_until > 0 AND"
            " locked_until <= excluded.last_failure_at THEN 0 ELSE locked_until END,"
            " last_failure_at = excluded.last_failure_at",
            [username, now],
        )
        self.db.execute(
            "UPDATE login_failures SET locked_until = ? WHERE username = ? AND failures >= ?"
            " AND locked_until <= ?",
            [now + lock_s, username, threshold, now],
        )
        rows = self.db.execute(
            "SELECT failures, locked_until FROM login_failures WHERE username = ?", [username]
        )
        return int(rows[0][0]), float(rows[0][1])

    def clear_failures(self, username: str) -> None:
        self.db.execute("DELETE FROM login_failures WHERE username = ?", [username])

    def purge_failures(self, before: float) -> int:
        """Forget failures older than ``before`` whose lock (if any) has ended."""
        return self.db.execute_count(
            "DELETE FROM login_failures WHERE last_failure_at < ? AND locked_until < ?",
            [before, before],
        )
