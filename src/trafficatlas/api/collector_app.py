"""The listener of a collector node (role = collector): /api/health and /metrics, nothing else.

A collector serves no data: traffic lives in the shared store and API nodes serve it. But each
collector has state no other node can see — its spool backlog and drops, pipeline queue and
source counters — so it keeps a small listener for operators and Prometheus. /metrics follows
``api.metrics_auth`` as on API nodes (tokens come from this node's metadata file, created with
`trafficatlas token create`); the store's traffic totals are left to the API nodes, so they are
exported once and a scrape never waits on the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from trafficatlas import __version__

if TYPE_CHECKING:
    from trafficatlas.runtime import Runtime

COLLECTOR_ROOT = (
    "this node is a trafficatlas collector (role = collector): it serves /api/health and "
    "/metrics only; the dashboard and the API are on the API nodes"
)


def create_collector_app(runtime: Runtime) -> FastAPI:
    """The collector's app: health (no authentication) and Prometheus metrics."""
    from prometheus_client import CollectorRegistry

    from trafficatlas.api import errors
    from trafficatlas.api.cache import ResultCache
    from trafficatlas.api.context import ApiContext
    from trafficatlas.api.routes import metrics
    from trafficatlas.auth.service import AuthService
    from trafficatlas.metrics.collector import TrafficAtlasCollector
    from trafficatlas.store.metadata import MetadataStore

    s = runtime.settings
    metadata = MetadataStore(s.store.resolved_metadata_path(s.data_dir))
    try:
        service = AuthService(s.auth, metadata)
    except BaseException:
        metadata.close()
        raise
    ctx = ApiContext(runtime=runtime, auth=service, cache=ResultCache(0, 1.0), metadata=metadata)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        metadata.close()

    app = FastAPI(
        title="trafficatlas collector",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrafficAtlasCollector(runtime, traffic=False))
    app.state.metrics_registry = registry
    errors.install(app)

    @app.get("/api/health", operation_id="health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness, the pipeline's state and the spool backlog (no authentication)."""
        return runtime.health()

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, str]:
        return {"detail": COLLECTOR_ROOT, "role": "collector"}

    app.include_router(metrics.router)
    return app
