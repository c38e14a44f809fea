"""The FastAPI application factory.

Two apps share one runtime: the network-facing app (health, login, and the authenticated data,
admin, live and metrics routes), and the local app served only on the owner-only Unix socket,
which local commands such as `trafficatlas top` use while the server owns the store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, TextIO

from fastapi import FastAPI, HTTPException, Query

from trafficatlas import __version__
from trafficatlas.api.deps import Viewer
from trafficatlas.errors import TrafficAtlasError
from trafficatlas.timeparse import parse_time

if TYPE_CHECKING:
    from trafficatlas.runtime import Runtime

DESCRIPTION = """\
See where your network traffic goes: traffic by country, AS, city and peer, time series,
drill-down, exports, the live feed (WebSocket `/api/live`) and Prometheus `/metrics`.

Authenticate with `Authorization: Bearer <token>` (`trafficatlas token create`) or log in with
`POST /api/auth/login` (session cookie; writes then need the `X-CSRF-Token` header). Every
data route takes `since`/`until` (relative like `24h`, ISO 8601 or epoch seconds) and the
filters `peer`, `direction`, `interface`, `exporter`, `source`, `ip_version`, `proto`,
`country`, `asn`, `label`.
"""


def create_app(
    runtime: Runtime,
    *,
    local: bool = False,
    admin_password: str | None = None,
    console: TextIO | None = None,
) -> FastAPI:
    """An app bound to ``runtime``; ``local`` builds the socket-only app instead.

    The network app opens the metadata store for accounts and, on first run, creates the user
    ``admin`` with ``admin_password`` (default $TRAFFICATLAS_ADMIN_PASSWORD) or a random
    password printed once to ``console`` (default stderr).
    """
    if local:
        return _local_app(runtime)
    from prometheus_client import CollectorRegistry

    from trafficatlas.api import errors, schema
    from trafficatlas.api.cache import ResultCache
    from trafficatlas.api.context import ApiContext
    from trafficatlas.api.routes import (
        audit,
        auth,
        export,
        flows,
        geo,
        geoip,
        live,
        lookup,
        metrics,
        peers,
        timeseries,
        tokens,
        users,
    )
    from trafficatlas.auth.service import ADMIN_PASSWORD_ENV, AuthService
    from trafficatlas.metrics.collector import TrafficAtlasCollector
    from trafficatlas.store.metadata import MetadataStore

    s = runtime.settings
    metadata = MetadataStore(s.store.resolved_metadata_path(s.data_dir))
    try:
        service = AuthService(s.auth, metadata)
        generated = service.ensure_admin(admin_password or os.environ.get(ADMIN_PASSWORD_ENV))
    except BaseException:
        metadata.close()
        raise
    if generated is not None:
        out = console or sys.stderr
        out.write(
            "\ntrafficatlas: created the user 'admin' with the password\n\n"
            f"    {generated}\n\n"
            "It is shown this once. Change it with `trafficatlas user passwd admin`.\n\n"
        )
        out.flush()
    cache = ResultCache(s.api.cache_entries, s.api.cache_ttl_s)
    ctx = ApiContext(runtime=runtime, auth=service, cache=cache, metadata=metadata)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        metadata.close()

    app = FastAPI(
        title="trafficatlas",
        version=__version__,
        description=DESCRIPTION,
        # Served below behind authentication: the schema names every route and parameter.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        generate_unique_id_function=schema.operation_id,
    )
    schema.install(app)
    app.state.ctx = ctx
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrafficAtlasCollector(runtime, cache))
    app.state.metrics_registry = registry
    errors.install(app)

    @app.get("/api/health", operation_id="health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness and the pipeline's basic state (no data, no authentication)."""
        return runtime.health()

    _docs(app)
    for module in (
        auth,
        geo,
        export,
        peers,
        timeseries,
        flows,
        geoip,
        lookup,
        users,
        tokens,
        audit,
        live,
        metrics,
    ):
        app.include_router(module.router)
    from trafficatlas.web import mount_web

    mount_web(app)  # last: it answers every path nothing else matched (the dashboard's routes)
    return app


def _docs(app: FastAPI) -> None:
    """OpenAPI schema and Swagger UI, for admins and viewers (the UI fetches with the cookie)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(principal: Viewer) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/api/docs", include_in_schema=False)
    def docs(principal: Viewer) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api/openapi.json", title="trafficatlas API")


def _local_app(runtime: Runtime) -> FastAPI:
    """Routes for local commands; reachable only through the owner-only Unix socket."""
    from trafficatlas.query import Filters, top

    app = FastAPI(title="trafficatlas (local)", version=__version__, openapi_url=None)

    @app.get("/api/health", operation_id="health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness and the pipeline's basic state."""
        return runtime.health()

    @app.get("/api/local/top", operation_id="local_top", tags=["local"])
    def local_top(
        by: Annotated[list[str], Query()],
        since: str = "24h",
        until: str | None = None,
        limit: int | None = None,
        peer: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        """Top-N for local commands (served on the owner-only socket only)."""
        try:
            filters = Filters(peer=peer or [])
            result = top(
                runtime.require_store(),
                by,
                filters,
                limit,
                parse_time(since),
                parse_time(until),
            )
        except (TrafficAtlasError, ValueError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return result.model_dump(mode="json")

    return app
