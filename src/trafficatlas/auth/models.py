"""Who is asking: roles, users, tokens and the principal a request authenticates as."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """What a principal may do: admin everything, viewer read all data, peer read its own."""

    ADMIN = "admin"
    VIEWER = "viewer"
    PEER = "peer"


class Scope(StrEnum):
    """What an API token may do: read (viewer, or peer with a peer id) or admin."""

    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    peer_id: str | None
    disabled: bool
    totp_enabled: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token's record (never the token itself: only its hash is stored)."""

    id: str
    name: str
    scope: Scope
    peer_id: str | None
    created_by: str
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None

    @property
    def role(self) -> Role:
        if self.scope == Scope.ADMIN:
            return Role.ADMIN
        return Role.PEER if self.peer_id else Role.VIEWER


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    kind: Literal["session", "token", "anonymous"]
    name: str  # user name, or "token:<id>"
    role: Role
    peer_id: str | None = None  # set for role peer: the only peer whose data it may see
    user_id: int | None = None
    token_id: str | None = None
    session_hash: str | None = None
    csrf_token: str | None = None  # sessions: what unsafe requests must echo in X-CSRF-Token

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
