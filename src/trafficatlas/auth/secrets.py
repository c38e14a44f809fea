"""Random secrets (session and API tokens, passwords) and how they are stored: hashed only.

Tokens carry 256 random bits, so a single SHA-256 is the right storage hash (a slow hash only
matters for low-entropy secrets such as passwords, which use argon2id).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random

TOKEN_PREFIX = "tat_"  # recognizable in logs and secret scanners


def new_api_token() -> tuple[str, str]:
    """(token id, token): the id is public (list/revoke), the token is shown once."""
    token_id = _random.token_hex(6)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{_random.token_urlsafe(32)}"


def new_session_token() -> str:
    return _random.token_urlsafe(32)


def new_password() -> str:
    """A random password for a new account (about 144 bits)."""
    return _random.token_urlsafe(18)


def token_hash(token: str) -> str:
    """What the database keeps instead of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(session_token: str) -> str:
    """The CSRF token bound to a session (derived, so nothing more is stored)."""
    return hmac.new(session_token.encode(), b"trafficatlas-csrf", hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
