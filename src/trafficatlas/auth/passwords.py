"""Password hashing with argon2id and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trafficatlas.auth.settings import AuthSettings
from trafficatlas.errors import TrafficAtlasError


class PasswordPolicyError(TrafficAtlasError, ValueError):
    """A new password does not meet the policy (the message says why)."""


class Passwords:
    """argon2id hashing with the configured cost; verification never raises on a mismatch."""

    def __init__(self, settings: AuthSettings) -> None:
        self.min_length = settings.password_min_length
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # Verified against for unknown user names, so they take as long as known ones.
        self._dummy = self._hasher.hash("trafficatlas-timing-equalizer")

    def check_policy(self, password: str, username: str = "") -> None:
        """Raise PasswordPolicyError when ``password`` is too weak."""
        if len(password) < self.min_length:
            raise PasswordPolicyError(
                f"the password must have at least {self.min_length} characters"
            )
        if len(password) > 1024:
            raise PasswordPolicyError("the password must have at most 1024 characters")
        if username and password.lower() == username.lower():
            raise PasswordPolicyError("the password must differ from the user name")
        if len(set(password)) < 4:
            raise PasswordPolicyError("the password needs more than three distinct characters")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored`` (None: an unknown user, always False)."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return False
