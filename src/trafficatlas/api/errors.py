"""How user-caused errors become HTTP answers: one clear message, never a traceback.

Every answer made here is ``{"detail": message, "code": code}``: the message is for people, the
code (one of :data:`ErrorCode`) for programs, such as the dashboard's login asking for the TOTP
step. Errors FastAPI raises itself (404 of an unknown path, 422 validation) have no code.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from trafficatlas.api.models.common import ErrorCode
from trafficatlas.auth.errors import (
    AuthError,
    ForbiddenError,
    LoginThrottledError,
    TotpRequiredError,
)
from trafficatlas.auth.passwords import PasswordPolicyError
from trafficatlas.errors import ConfigError, DatabaseError, DownloadError, TrafficAtlasError
from trafficatlas.logging import get_logger
from trafficatlas.query import FlowDetailDisabledError, QueryError

log = get_logger("api")


def error_doc(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries for the given status codes."""
    from trafficatlas.api.models.common import ErrorResponse

    text = {
        400: "Parameters the query cannot answer (the message says why).",
        401: "No credentials, or wrong, expired or revoked ones.",
        403: "Authenticated, but not allowed (role, peer scope, CSRF, feature off).",
        404: "No such resource.",
        409: "Conflicts with the current state.",
        429: "Too many attempts (Retry-After says when to try again).",
        503: "The store or a database is not available right now.",
    }
    return {c: {"model": ErrorResponse, "description": text[c]} for c in codes}


def _json(
    status: int, detail: str, code: ErrorCode, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def auth_code(exc: AuthError) -> ErrorCode:
    """The stable code of an authentication failure."""
    if isinstance(exc, TotpRequiredError):
        return "totp_required"
    if isinstance(exc, LoginThrottledError):
        return "throttled"
    if isinstance(exc, ForbiddenError):
        return "forbidden"
    return "unauthenticated"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return _json(exc.status, str(exc), auth_code(exc), headers)

    @app.exception_handler(FlowDetailDisabledError)
    async def flows_off(request: Request, exc: FlowDetailDisabledError) -> JSONResponse:
        return _json(403, str(exc), "flow_detail_disabled")

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return _json(400, str(exc), "invalid_query")

    @app.exception_handler(PasswordPolicyError)
    async def weak_password(request: Request, exc: PasswordPolicyError) -> JSONResponse:
        return _json(400, str(exc), "weak_password")

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, exc: DatabaseError) -> JSONResponse:
        log.error("database error", path=request.url.path, error=str(exc))
        return _json(503, str(exc), "unavailable")

    @app.exception_handler(DownloadError)
    async def download_error(request: Request, exc: DownloadError) -> JSONResponse:
        return _json(409, str(exc), "download_failed")

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return _json(400, str(exc), "invalid_config")

    @app.exception_handler(TrafficAtlasError)
    async def other_error(request: Request, exc: TrafficAtlasError) -> JSONResponse:
        return _json(400, str(exc), "invalid")
