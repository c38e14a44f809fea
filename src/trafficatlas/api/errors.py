"""How user-caused errors become HTTP answers: one clear message, never a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from trafficatlas.auth.errors import AuthError
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


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return _json(exc.status, str(exc), headers)

    @app.exception_handler(FlowDetailDisabledError)
    async def flows_off(request: Request, exc: FlowDetailDisabledError) -> JSONResponse:
        return _json(403, str(exc))

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return _json(400, str(exc))

    @app.exception_handler(PasswordPolicyError)
    async def weak_password(request: Request, exc: PasswordPolicyError) -> JSONResponse:
        return _json(400, str(exc))

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, exc: DatabaseError) -> JSONResponse:
        log.error("database error", path=request.url.path, error=str(exc))
        return _json(503, str(exc))

    @app.exception_handler(DownloadError)
    async def download_error(request: Request, exc: DownloadError) -> JSONResponse:
        return _json(409, str(exc))

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return _json(400, str(exc))

    @app.exception_handler(TrafficAtlasError)
    async def other_error(request: Request, exc: TrafficAtlasError) -> JSONResponse:
        return _json(400, str(exc))
