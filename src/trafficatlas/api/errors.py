"""How user-caused errors become HTTP answers: one clear message, never a traceback.

Every answer made here is ``{"detail": message, "code": code}``: the message is for people, the
code (one of :data:`ErrorCode`) for programs, such as the dashboard's login asking for the TOTP
step. The errors FastAPI and Starlette raise themselves get codes too: an unknown path
(``not_found``), a method the path does not take (``method_not_allowed``, with ``Allow``), and
request validation (422: FastAPI's list of issues as ``detail``, plus ``code`` =
``invalid_parameter`` and ``field``, the first refused parameter).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount

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


# Codes of HTTPExceptions by status; other 4xx are `invalid`, other 5xx `server_error`.
HTTP_CODES: dict[int, ErrorCode] = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "throttled",
    503: "unavailable",
}

# Methods a 405's Allow header may list (what the API's routes use, and HEAD/OPTIONS).
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def error_response(
    status: int, detail: str, code: ErrorCode, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON answer of an error: ``{"detail": detail, "code": code}``."""
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def http_code(status: int) -> ErrorCode:
    """The stable code of an HTTP error status."""
    if status in HTTP_CODES:
        return HTTP_CODES[status]
    return "server_error" if status >= 500 else "invalid"


def allowed_methods(request: Request) -> set[str]:
    """Methods some API route of the app takes at the request's path.

    Starlette's 405 names only the first route at the path (GET of /api/users, not its POST).
    Mounts are left out: the dashboard's mount takes any path and says its own Allow.
    """
    methods: set[str] = set()
    for method in PROBED_METHODS:
        probe = {**request.scope, "method": method}
        for route in request.app.router.routes:
            if not isinstance(route, Mount) and route.matches(probe)[0] == Match.FULL:
                methods.add(method)
                break
    return methods


def refused_field(errors: list[Any]) -> str | None:
    """The first refused parameter or top-level body field of validation ``errors``."""
    for error in errors:
        loc: list[Any] = list(error.get("loc", ())) if isinstance(error, dict) else []
        if len(loc) > 1:  # (source, name, ...): ("query", "since"), ("body", "username", 0)
            return str(loc[1])
    return None


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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Starlette's own (unknown path, wrong method) and the routes' HTTPException(404, ...)
        headers = exc.headers
        if exc.status_code == 405 and (methods := allowed_methods(request)):
            headers = {**(headers or {}), "Allow": ", ".join(sorted(methods))}
        if not is_body_allowed_for_status_code(exc.status_code):
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse(
            {"detail": exc.detail, "code": http_code(exc.status_code)},
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors())
        body = {"detail": errors, "code": "invalid_parameter", "field": refused_field(errors)}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> JSONResponse:
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return error_response(exc.status, str(exc), auth_code(exc), headers)

    @app.exception_handler(FlowDetailDisabledError)
    async def flows_off(request: Request, exc: FlowDetailDisabledError) -> JSONResponse:
        return error_response(403, str(exc), "flow_detail_disabled")

    @app.exception_handler(QueryError)
    async def query_error(request: Request, exc: QueryError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_query")

    @app.exception_handler(PasswordPolicyError)
    async def weak_password(request: Request, exc: PasswordPolicyError) -> JSONResponse:
        return error_response(400, str(exc), "weak_password")

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, exc: DatabaseError) -> JSONResponse:
        log.error("database error", path=request.url.path, error=str(exc))
        return error_response(503, str(exc), "unavailable")

    @app.exception_handler(DownloadError)
    async def download_error(request: Request, exc: DownloadError) -> JSONResponse:
        return error_response(409, str(exc), "download_failed")

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, exc: ConfigError) -> JSONResponse:
        return error_response(400, str(exc), "invalid_config")

    @app.exception_handler(TrafficAtlasError)
    async def other_error(request: Request, exc: TrafficAtlasError) -> JSONResponse:
        return error_response(400, str(exc), "invalid")
