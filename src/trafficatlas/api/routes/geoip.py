"""The GeoIP/ASN databases in use (with attribution), and updating them."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from trafficatlas.api.deps import Admin, Ctx, Viewer, client_of
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.admin import (
    GeoIPDatabaseInfo,
    GeoIPResponse,
    GeoIPUpdateItem,
    GeoIPUpdateResponse,
)
from trafficatlas.enrich.engine import GeoIP

router = APIRouter(prefix="/api/geoip", tags=["geoip"], responses=error_doc(401, 403, 503))


def _engine(ctx: Ctx) -> GeoIP:
    if ctx.runtime.geo is None:
        raise HTTPException(503, "the GeoIP engine is not loaded yet")
    return ctx.runtime.geo


@router.get("", operation_id="geoip_info", response_model=GeoIPResponse)
def geoip_info(ctx: Ctx, principal: Viewer) -> GeoIPResponse:
    """Each database: what it provides, schema, build date and age, license; attribution."""
    from trafficatlas.enrich.bundled import attribution

    now = time.time()
    out = []
    for d in _engine(ctx).databases():
        out.append(
            GeoIPDatabaseInfo(
                name=d.name,
                path=d.path,
                kind=d.kind,
                roles=list(d.roles),
                schema_name=d.schema,
                database_type=d.database_type,
                build_date=(
                    datetime.fromtimestamp(d.build_epoch, tz=UTC).strftime("%Y-%m-%d")
                    if d.build_epoch
                    else None
                ),
                age_days=round((now - d.build_epoch) / 86400, 2) if d.build_epoch else None,
                networks=d.networks,
                size=d.size,
                license=d.license,
                source=d.source,
            )
        )
    return GeoIPResponse(databases=out, attribution=attribution())


@router.post(
    "/update",
    operation_id="geoip_update",
    response_model=GeoIPUpdateResponse,
    responses=error_doc(409),
)
async def geoip_update(ctx: Ctx, principal: Admin, request: Request) -> GeoIPUpdateResponse:
    """Download the configured sources, verify them, swap them in, and reload the engine."""
    from trafficatlas.enrich.update import installed_databases, update_databases

    settings = ctx.settings
    if not settings.geoip.sources:
        raise HTTPException(409, "no [[geoip.sources]] configured: nothing to update")
    engine = _engine(ctx)
    results = await run_in_threadpool(update_databases, settings)
    reloaded = False
    if any(r.status == "updated" for r in results):
        engine.extra = installed_databases(settings)
        await run_in_threadpool(engine.load)
        reloaded = True
    ctx.auth.audit.record(
        principal.name,
        "geoip.update",
        client=client_of(request),
        success=all(r.status != "failed" for r in results),
        results={r.name: r.status for r in results},
    )
    return GeoIPUpdateResponse(
        results=[
            GeoIPUpdateItem(name=r.name, status=r.status, message=r.message, bytes=r.bytes)
            for r in results
        ],
        reloaded=reloaded,
    )
