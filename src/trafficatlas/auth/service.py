"""AuthService: logins, sessions, API tokens and account changes, each audited.

Request-time checks (a session cookie, a bearer token) read the metadata store every time, so a
logout, revocation or disabled account in any process takes effect on the next request.
"""

from __future__ import annotations

import time

from trafficatlas.auth import totp
from trafficatlas.auth.audit import AuditLog
from trafficatlas.auth.errors import AuthError, LoginThrottledError, TotpRequiredError
from trafficatlas.auth.models import ApiToken, Principal, Role, Scope, User
from trafficatlas.auth.passwords import Passwords
from trafficatlas.auth.ratelimit import RateLimiter
from trafficatlas.auth.secrets import (
    TOKEN_PREFIX,
    csrf_for,
    new_api_token,
    new_password,
    new_session_token,
    token_hash,
)
from trafficatlas.auth.settings import AuthSettings
from trafficatlas.auth.store import AuthStore
from trafficatlas.errors import ConfigError
from trafficatlas.store.metadata import MetadataStore

TOUCH_EVERY_S = 60.0  # last-seen/last-used timestamps are written at most this often
ADMIN_PASSWORD_ENV = "TRAFFICATLAS_ADMIN_PASSWORD"


class AuthService:
    """Everything the API and the `user`/`token` commands do with accounts and credentials."""

    def __init__(self, settings: AuthSettings, metadata: MetadataStore) -> None:
        self.settings = settings
        self.store = AuthStore(metadata)
        self.audit = AuditLog(metadata)
        self.passwords = Passwords(settings)
        self.limiter = RateLimiter(settings.login_attempts_per_minute, 60.0)

    # -- first run ---------------------------------------------------------------------------

    def ensure_admin(self, password: str | None) -> str | None:
        """Create ``admin`` when no admin exists; returns the password when one was generated.

        ``password`` (from $TRAFFICATLAS_ADMIN_PASSWORD) must meet the policy.
        """
        if any(u.role == Role.ADMIN for u in self.store.users()):
            return None
        if self.store.user("admin") is not None:
            raise ConfigError(
                "no admin user exists and the name 'admin' is taken: create one with "
                "`trafficatlas user add NAME --role admin`"
            )
        generated = password is None
        secret = new_password() if password is None else password
        if not generated:
            try:
                self.passwords.check_policy(secret, "admin")
            except ValueError as exc:
                raise ConfigError(f"${ADMIN_PASSWORD_ENV}: {exc}") from None
        self.store.add_user("admin", self.passwords.hash(secret), Role.ADMIN)
        self.audit.record("system", "user.bootstrap", target="admin", generated=generated)
        return secret if generated else None

    # -- logins and sessions -----------------------------------------------------------------

    def login(
        self, username: str, password: str, totp_code: str | None, client: str
    ) -> tuple[str, Principal, float]:
        """Check credentials; (session token, principal, absolute expiry) or an AuthError."""
        wait = self.limiter.hit(client)
        if wait:
            self.audit.record(username, "login", client=client, success=False, reason="throttled")
            raise LoginThrottledError(
                "too many login attempts from this address; try again later", retry_after=wait
            )
        now = time.time()
        locked = self.store.locked_until(username)
        if locked > now:
            self.audit.record(username, "login", client=client, success=False, reason="locked")
            raise LoginThrottledError(
                "this user name is locked after repeated failed logins; try again later",
                retry_after=locked - now,
            )
        user = self.store.user(username)
        ok = self.passwords.verify(self.store.password_hash(username), password)
        if not ok or user is None or user.disabled:
            self._failed(username, client, now, "bad credentials")
            raise AuthError("wrong user name or password")
        if user.totp_enabled:
            if not totp_code:
                raise TotpRequiredError("a TOTP code is required for this user")
            secret, _, last_step = self.store.totp_state(user.id)
            step = totp.verify(secret or "", totp_code, last_step)
            if step is None or not self.store.use_totp_step(user.id, step):
                self._failed(username, client, now, "bad TOTP code")
                raise AuthError("wrong TOTP code")
        self.store.clear_failures(username)
        stored = self.store.password_hash(username)
        if stored and self.passwords.needs_rehash(stored):
            self.store.set_password(user.id, self.passwords.hash(password))
        token = new_session_token()
        expires = now + self.settings.session_max
        self.store.add_session(token_hash(token), user.id, expires, client)
        self.store.purge_sessions(now, self.settings.session_idle)
        self.store.purge_failures(now - 86_400)
        self.audit.record(user.username, "login", client=client)
        return token, self._session_principal(user, token), expires

    def _failed(self, username: str, client: str, now: float, reason: str) -> None:
        failures, locked_until = self.store.record_failure(
            username, now, self.settings.lockout_failures, self.settings.lockout_duration
        )
        self.audit.record(
            username, "login", client=client, success=False, reason=reason, failures=failures
        )
        if locked_until > now:
            self.audit.record("system", "user.locked", target=username, client=client)

    def _session_principal(self, user: User, token: str) -> Principal:
        return Principal(
            kind="session",
            name=user.username,
            role=user.role,
            peer_id=user.peer_id,
            user_id=user.id,
            session_hash=token_hash(token),
            csrf_token=csrf_for(token),
        )

    def session_principal(self, token: str, now: float | None = None) -> Principal | None:
        """The principal of a session cookie, or None when unknown, expired or disabled."""
        moment = time.time() if now is None else now
        digest = token_hash(token)
        rec = self.store.session(digest)
        if rec is None:
            return None
        user_id, _, last_seen, expires = rec
        if expires <= moment or last_seen + self.settings.session_idle <= moment:
            self.store.delete_session(digest)
            return None
        user = self.store.user_by_id(user_id)
        if user is None or user.disabled:
            return None
        if moment - last_seen >= TOUCH_EVERY_S:
            self.store.touch_session(digest, moment)
        return self._session_principal(user, token)

    def session_times(self, principal: Principal) -> tuple[float, float]:
        """(absolute expiry, idle expiry) of a session principal."""
        rec = self.store.session(principal.session_hash or "")
        if rec is None:
            return (0.0, 0.0)
        return rec[3], min(rec[3], rec[2] + self.settings.session_idle)

    def logout(self, principal: Principal, client: str) -> None:
        if principal.session_hash:
            self.store.delete_session(principal.session_hash)
        self.audit.record(principal.name, "logout", client=client)

    # -- API tokens --------------------------------------------------------------------------

    def token_principal(self, token: str, now: float | None = None) -> Principal | None:
        """The principal of a bearer token, or None when unknown, revoked or expired."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        rec = self.store.token_by_hash(token_hash(token))
        moment = time.time() if now is None else now
        if rec is None or rec.revoked_at is not None:
            return None
        if rec.expires_at is not None and rec.expires_at <= moment:
            return None
        if rec.last_used_at is None or moment - rec.last_used_at >= TOUCH_EVERY_S:
            self.store.touch_token(rec.id, moment)
        return Principal(
            kind="token",
            name=f"token:{rec.id}",
            role=rec.role,
            peer_id=rec.peer_id,
            token_id=rec.id,
        )

    def create_token(
        self,
        actor: str,
        name: str,
        scope: Scope,
        peer_id: str | None = None,
        expires_in_s: float | None = None,
        client: str = "",
    ) -> tuple[str, ApiToken]:
        """(token shown once, its record); a peer id makes a read token a peer token."""
        if scope == Scope.ADMIN and peer_id:
            raise ConfigError("a peer token can only have the read scope")
        token_id, token = new_api_token()
        expires = time.time() + expires_in_s if expires_in_s else None
        rec = self.store.add_token(
            token_id, token_hash(token), name or token_id, scope, peer_id, actor, expires
        )
        self.audit.record(
            actor, "token.create", target=token_id, client=client, scope=scope.value, peer=peer_id
        )
        return token, rec

    def revoke_token(self, actor: str, token_id: str, client: str = "") -> bool:
        ok = self.store.revoke_token(token_id)
        self.audit.record(actor, "token.revoke", target=token_id, client=client, success=ok)
        return ok

    # -- users -------------------------------------------------------------------------------

    def add_user(
        self,
        actor: str,
        username: str,
        password: str,
        role: Role,
        peer_id: str | None = None,
        client: str = "",
    ) -> User:
        check_username(username)
        self.passwords.check_policy(password, username)
        user = self.store.add_user(username, self.passwords.hash(password), role, peer_id)
        self.audit.record(
            actor, "user.add", target=username, client=client, role=role.value, peer=peer_id
        )
        return user

    def set_password(self, actor: str, user: User, password: str, client: str = "") -> None:
        """New password; every session of the user ends."""
        self.passwords.check_policy(password, user.username)
        self.store.set_password(user.id, self.passwords.hash(password))
        self.store.delete_user_sessions(user.id)
        self.store.clear_failures(user.username)
        self.audit.record(actor, "user.passwd", target=user.username, client=client)

    def update_user(
        self,
        actor: str,
        user: User,
        *,
        role: Role | None = None,
        peer_id: str | None = None,
        disabled: bool | None = None,
        client: str = "",
    ) -> User:
        """Change role/peer and/or disable; disabling ends the user's sessions."""
        if role is None and peer_id is not None:
            role = user.role
        self.store.update_user(user.id, role=role, peer_id=peer_id, disabled=disabled)
        if disabled:
            self.store.delete_user_sessions(user.id)
        if disabled is False:
            self.store.clear_failures(user.username)
        self.audit.record(
            actor,
            "user.update",
            target=user.username,
            client=client,
            role=role.value if role else None,
            peer=peer_id,
            disabled=disabled,
        )
        updated = self.store.user_by_id(user.id)
        assert updated is not None
        return updated


def check_username(username: str) -> None:
    """User names: 1-64 letters, digits, '.', '_', '-' or '@'."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", username):
        raise ConfigError(
            f"invalid user name {username!r}: use 1-64 letters, digits, '.', '_', '-' or '@'"
        )
