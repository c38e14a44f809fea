"""Typed dependencies: the context, the authenticated principal and role checks.

Credentials: ``Authorization: Bearer <token>`` (API tokens) or the session cookie set by
``POST /api/auth/login``. Unsafe methods (POST, PUT, PATCH, DELETE) of cookie sessions must
also send the session's CSRF token in ``X-CSRF-Token``; bearer tokens need none (a browser
never attaches them by itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from trafficatlas.api.context import ApiContext
from trafficatlas.auth.errors import AuthError, ForbiddenError
from trafficatlas.auth.models import Principal, Role
from trafficatlas.auth.secrets import same
from trafficatlas.query import Filters

SESSION_COOKIE = "trafficatlas_session"
CSRF_COOKIE = "trafficatlas_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def context(conn: HTTPConnection) -> ApiContext:
    ctx: ApiContext = conn.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(context)]


def client_of(conn: HTTPConnection) -> str:
    """The client's address (as uvicorn resolved it, proxy headers included)."""
    return conn.client.host if conn.client else ""


def resolve(
    ctx: ApiContext, headers: Mapping[str, str], cookies: Mapping[str, str]
) -> Principal | None:
    """The principal the credentials name; None without any; AuthError for bad ones."""
    header = headers.get("authorization")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthError("unsupported Authorization header: use 'Bearer <token>'")
        principal = ctx.auth.token_principal(credential.strip())
        if principal is None:
            raise AuthError("invalid, expired or revoked API token")
        return principal
    cookie = cookies.get(SESSION_COOKIE)
    if cookie:
        principal = ctx.auth.session_principal(cookie)
        if principal is None:
            raise AuthError("the session has ended: log in again")
        return principal
    return None


async def current_principal(request: Request, ctx: Ctx) -> Principal:
    """Any authenticated caller (401 otherwise; 403 for a cookie write without CSRF token)."""
    principal = resolve(ctx, request.headers, request.cookies)
    if principal is None:
        raise AuthError("authentication required: log in, or send 'Authorization: Bearer <token>'")
    if request.method not in SAFE_METHODS and principal.kind == "session":
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not principal.csrf_token or not same(sent, principal.csrf_token):
            raise ForbiddenError(
                "missing or wrong X-CSRF-Token header (required for writes with a session "
                "cookie; the login response and the trafficatlas_csrf cookie hold it)"
            )
    return principal


Authenticated = Annotated[Principal, Depends(current_principal)]


async def viewer(principal: Authenticated) -> Principal:
    """Admins and viewers: data of every peer."""
    if principal.role == Role.PEER:
        raise ForbiddenError("this needs the viewer or admin role (a peer sees only its own data)")
    return principal


async def admin(principal: Authenticated) -> Principal:
    if principal.role != Role.ADMIN:
        raise ForbiddenError("this needs the admin role")
    return principal


async def session_user(principal: Authenticated) -> Principal:
    """A logged-in user (cookie session): account actions are not for API tokens."""
    if principal.kind != "session":
        raise ForbiddenError("this needs a login session; API tokens cannot do it")
    return principal


Viewer = Annotated[Principal, Depends(viewer)]
Admin = Annotated[Principal, Depends(admin)]
SessionUser = Annotated[Principal, Depends(session_user)]


def scoped(filters: Filters, principal: Principal) -> Filters:
    """Filters limited to what the principal may see: a peer sees only its own peer.

    Enforced here, server-side, for every data route; asking for another peer is a 403 rather
    than an empty answer, so a misconfigured client notices.
    """
    if principal.role != Role.PEER:
        return filters
    own = principal.peer_id or ""
    if filters.peer and set(filters.peer) != {own}:
        raise ForbiddenError("a peer credential can only query its own peer's traffic")
    return filters.model_copy(update={"peer": [own]})


def check_peer_access(principal: Principal, peer_id: str) -> None:
    """403 unless the principal may see ``peer_id``."""
    if principal.role == Role.PEER and principal.peer_id != peer_id:
        raise ForbiddenError("a peer credential can only query its own peer's traffic")
