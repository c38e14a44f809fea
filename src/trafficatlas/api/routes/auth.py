"""Login sessions: log in and out, the current session, own password and TOTP."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from trafficatlas.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    SessionUser,
    client_of,
)
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.admin import (
    Done,
    LoginRequest,
    PasswordChange,
    SessionInfo,
    TotpCode,
    TotpDisable,
    TotpSetup,
)
from trafficatlas.auth import totp_flow
from trafficatlas.auth.errors import AuthError
from trafficatlas.auth.models import Principal

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_doc(400, 401, 403))


def _secure(ctx: Ctx, request: Request) -> bool:
    mode = ctx.settings.auth.cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _session_info(ctx: Ctx, principal: Principal) -> SessionInfo:
    expires, idle = ctx.auth.session_times(principal)
    user = ctx.auth.store.user_by_id(principal.user_id or 0)
    return SessionInfo(
        username=principal.name,
        role=principal.role.value,
        peer_id=principal.peer_id,
        csrf_token=principal.csrf_token or "",
        expires_at=expires,
        idle_expires_at=idle,
        totp_enabled=bool(user and user.totp_enabled),
    )


@router.post(
    "/login",
    operation_id="auth_login",
    response_model=SessionInfo,
    responses=error_doc(429),
)
def login(ctx: Ctx, body: LoginRequest, request: Request) -> JSONResponse:
    """Check user name, password (and TOTP code); sets the HttpOnly session cookie."""
    token, principal, expires = ctx.auth.login(
        body.username, body.password, body.totp_code, client_of(request)
    )
    info = _session_info(ctx, principal)
    response = JSONResponse(info.model_dump(mode="json"))
    secure = _secure(ctx, request)
    max_age = int(expires - time.time())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    # Readable by the page's script, which echoes it in X-CSRF-Token (double submit).
    response.set_cookie(
        CSRF_COOKIE,
        info.csrf_token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )
    return response


@router.post("/logout", operation_id="auth_logout", response_model=Done)
def logout(ctx: Ctx, principal: SessionUser, request: Request) -> JSONResponse:
    """End this session (the cookie stops working everywhere at once)."""
    ctx.auth.logout(principal, client_of(request))
    response = JSONResponse(Done(ok=True).model_dump())
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")
    return response


@router.get("/session", operation_id="auth_session", response_model=SessionInfo)
def session(ctx: Ctx, principal: SessionUser) -> SessionInfo:
    """The logged-in user, role, expiry and CSRF token of this session."""
    return _session_info(ctx, principal)


@router.post("/password", operation_id="auth_password", response_model=Done)
def change_password(
    ctx: Ctx, principal: SessionUser, body: PasswordChange, request: Request
) -> Done:
    """Change the own password (every session of the user ends, this one included)."""
    if not ctx.auth.passwords.verify(
        ctx.auth.store.password_hash(principal.name), body.current_password
    ):
        raise AuthError("the current password is wrong")
    user = ctx.auth.store.user(principal.name)
    assert user is not None
    ctx.auth.set_password(principal.name, user, body.new_password, client_of(request))
    return Done(ok=True)


@router.post("/totp/setup", operation_id="auth_totp_setup", response_model=TotpSetup)
def totp_setup(ctx: Ctx, principal: SessionUser) -> TotpSetup:
    """Start TOTP enrolment: a secret and otpauth URI (inactive until confirmed)."""
    secret, uri = totp_flow.begin(ctx.auth, principal)
    return TotpSetup(secret=secret, uri=uri)


@router.post("/totp/enable", operation_id="auth_totp_enable", response_model=Done)
def totp_enable(ctx: Ctx, principal: SessionUser, body: TotpCode, request: Request) -> Done:
    """Confirm enrolment with a current code; logins need a code from then on."""
    totp_flow.confirm(ctx.auth, principal, body.code, client_of(request))
    return Done(ok=True)


@router.post("/totp/disable", operation_id="auth_totp_disable", response_model=Done)
def totp_disable(ctx: Ctx, principal: SessionUser, body: TotpDisable, request: Request) -> Done:
    """Turn TOTP off (asks for the password again)."""
    totp_flow.disable(ctx.auth, principal, body.password, client_of(request))
    return Done(ok=True)
