"""Authentication failures, each with the HTTP status the API answers with."""

from __future__ import annotations

from trafficatlas.errors import TrafficAtlasError


class AuthError(TrafficAtlasError):
    """Credentials missing or wrong (401)."""

    status = 401

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TotpRequiredError(AuthError):
    """The password was right but the user has TOTP on and sent no code (401)."""


class LoginThrottledError(AuthError):
    """Too many attempts from one address, or the user name is locked (429, Retry-After)."""

    status = 429


class ForbiddenError(AuthError):
    """Authenticated, but not allowed to do this (403)."""

    status = 403
