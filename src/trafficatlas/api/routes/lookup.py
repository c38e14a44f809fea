"""Look up addresses in the loaded GeoIP/ASN databases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import Field

from trafficatlas.api.deps import Ctx, Viewer
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.admin import LookupItem, LookupResponse
from trafficatlas.api.params import invalid

router = APIRouter(prefix="/api", tags=["lookup"], responses=error_doc(401, 403, 503))


@router.get("/lookup", operation_id="lookup", response_model=LookupResponse)
def lookup(
    ctx: Ctx,
    principal: Viewer,
    ip: Annotated[
        list[Annotated[str, Field(max_length=45, pattern=r"^[0-9A-Za-z:.%]*$")]],
        Query(min_length=1, max_length=100, description="IPv4 or IPv6 addresses (repeatable)."),
    ],
) -> LookupResponse:
    """Country, city, coordinates, ASN and matched network of each address."""
    if ctx.runtime.geo is None:
        raise HTTPException(503, "the GeoIP engine is not loaded yet")
    rows = ctx.runtime.geo.lookup_ips(ip)
    bad = [r for r in rows if "error" in r]
    if bad:
        raise invalid("ip", "; ".join(f"{r['ip']!r}: {r['error']}" for r in bad[:10]), ip)
    return LookupResponse(results=[LookupItem(**r) for r in rows])
