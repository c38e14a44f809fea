"""Prometheus /metrics: computed at scrape time; access per api.metrics_auth.

"localhost" (the default) lets a Prometheus on the same host scrape without credentials and
asks everyone else for a token; see conf/trafficatlas.example.toml for the trade-off.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trafficatlas.api.deps import Ctx, client_of, resolve
from trafficatlas.api.errors import error_doc
from trafficatlas.auth.errors import AuthError, ForbiddenError
from trafficatlas.auth.models import Role

router = APIRouter(tags=["metrics"], responses=error_doc(401, 403))


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(ctx: Ctx, request: Request) -> Response:
    """Prometheus text format: geoip_bytes_*_total, trafficatlas_* traffic and health."""
    mode = ctx.settings.api.metrics_auth
    if mode != "none":
        principal = resolve(ctx, request.headers, request.cookies)
        if principal is None:
            if not (mode == "localhost" and is_loopback(client_of(request))):
                raise AuthError("metrics need a token: send 'Authorization: Bearer <token>'")
        elif principal.role == Role.PEER:
            raise ForbiddenError("metrics show every peer: a peer credential cannot read them")
    registry = request.app.state.metrics_registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
