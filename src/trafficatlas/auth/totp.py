"""Time-based one-time passwords (RFC 6238, 30 s steps, 6 digits) with replay protection."""

from __future__ import annotations

import time

import pyotp

STEP_S = 30


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads (usually from a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def verify(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (one step of clock drift allowed), or None.

    A step at or before ``last_step`` (already used) is refused, so a code works once.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    moment = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    current = int(moment // STEP_S)
    for step in (current, current - 1, current + 1):
        if step > last_step and totp.verify(code, for_time=step * STEP_S):
            return step
    return None


def code_at(secret: str, moment: float) -> str:
    """The code valid at ``moment`` (for tests and enrolment checks)."""
    return pyotp.TOTP(secret).at(moment)
