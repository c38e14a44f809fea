"""Enrolling and removing TOTP for a logged-in user (the login check is in AuthService)."""

from __future__ import annotations

from trafficatlas.auth import totp
from trafficatlas.auth.errors import AuthError
from trafficatlas.auth.models import Principal
from trafficatlas.auth.service import AuthService
from trafficatlas.errors import ConfigError


def begin(service: AuthService, principal: Principal) -> tuple[str, str]:
    """Start enrolment: a new secret (not active until confirmed) and its otpauth URI."""
    assert principal.user_id is not None
    _, enabled, _ = service.store.totp_state(principal.user_id)
    if enabled:
        raise ConfigError("TOTP is already enabled; disable it first to enrol a new device")
    secret = totp.new_secret()
    service.store.set_totp(principal.user_id, secret, enabled=False)
    return secret, totp.provisioning_uri(secret, principal.name, service.settings.totp_issuer)


def confirm(service: AuthService, principal: Principal, code: str, client: str) -> None:
    """Turn TOTP on once the user proves the authenticator produces valid codes."""
    assert principal.user_id is not None
    secret, enabled, last = service.store.totp_state(principal.user_id)
    if enabled or not secret:
        raise ConfigError("no TOTP enrolment is pending; start one first")
    step = totp.verify(secret, code, last)
    if step is None:
        raise AuthError("wrong TOTP code")
    service.store.set_totp(principal.user_id, secret, enabled=True)
    service.store.use_totp_step(principal.user_id, step)
    service.audit.record(principal.name, "totp.enable", target=principal.name, client=client)


def disable(service: AuthService, principal: Principal, password: str, client: str) -> None:
    """Turn TOTP off (the password is asked again: a stolen session alone must not do it)."""
    assert principal.user_id is not None
    if not service.passwords.verify(service.store.password_hash(principal.name), password):
        service.audit.record(
            principal.name, "totp.disable", target=principal.name, client=client, success=False
        )
        raise AuthError("wrong password")
    service.store.set_totp(principal.user_id, None, enabled=False)
    service.audit.record(principal.name, "totp.disable", target=principal.name, client=client)
