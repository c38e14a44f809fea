"""The FastAPI application factory.

Two apps share one runtime: the network-facing app (health now; the authenticated data routes
of the API issue), and the local app served only on the owner-only Unix socket, which local
commands such as `trafficatlas top` use while the server owns the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from trafficatlas import __version__
from trafficatlas.errors import TrafficAtlasError
from trafficatlas.timeparse import parse_time

if TYPE_CHECKING:
    from trafficatlas.runtime import Runtime


def create_app(runtime: Runtime, *, local: bool = False) -> FastAPI:
    """An app bound to ``runtime``; ``local`` adds the socket-only routes."""
    app = FastAPI(
        title="trafficatlas",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
    )

    @app.get("/api/health", operation_id="health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness and the pipeline's basic state (no data, no authentication)."""
        return runtime.health()

    if local:
        from trafficatlas.query import Filters, top

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
