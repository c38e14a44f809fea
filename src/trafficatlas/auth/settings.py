"""AuthSettings: sessions, cookies, login throttling and password hashing cost.

Light on purpose (no argon2 import) so the main Settings model can embed it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trafficatlas.section import Section
from trafficatlas.store.settings import Duration


class AuthSettings(Section):
    """Users, sessions and API tokens of the HTTP API (there is never a default password)."""

    # A login session ends after this long without a request, and in any case after session_max.
    session_idle: Duration = Field(default=12 * 3600, ge=60)
    session_max: Duration = Field(default=7 * 86400, ge=60)
    # The Secure cookie flag: "auto" sets it when the request came over HTTPS (directly, or
    # through a reverse proxy on a trusted address that sends X-Forwarded-Proto).
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Login attempts one client address may make per minute (then 429 with Retry-After).
    login_attempts_per_minute: int = Field(default=10, ge=1)
    # Consecutive failed logins that lock a user name, and for how long.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_duration: Duration = Field(default=15 * 60, ge=1)
    password_min_length: int = Field(default=12, ge=8, le=1024)
    # argon2id cost (RFC 9106 second recommendation by default: t=3, 64 MiB, 4 lanes).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Issuer shown by authenticator apps for TOTP codes.
    totp_issuer: str = "trafficatlas"

    @model_validator(mode="after")
    def _idle_within_max(self) -> AuthSettings:
        if self.session_idle > self.session_max:
            raise ValueError("session_idle must not exceed session_max")
        return self
