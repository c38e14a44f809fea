"""Drill-down into raw flow records (remote addresses and ports), when flow detail is on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from trafficatlas.api.deps import Authenticated, Ctx, scoped
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.common import Totals, traffic_values
from trafficatlas.api.models.traffic import FlowRow, FlowsResponse
from trafficatlas.api.params import TimeRange, filters, time_range
from trafficatlas.api.querying import range_fields
from trafficatlas.query import Filters, TopRow, drilldown
from trafficatlas.query.dims import FlowDimension

router = APIRouter(prefix="/api", tags=["flows"], responses=error_doc(400, 401, 403, 503))


def _row(x: TopRow) -> FlowRow:
    return FlowRow(key=x.key, **traffic_values(x, x.percent))


@router.get("/flows", operation_id="flows", response_model=FlowsResponse)
async def flows(
    ctx: Ctx,
    principal: Authenticated,
    rng: Annotated[TimeRange, Depends(time_range)],
    where: Annotated[Filters, Depends(filters)],
    by: Annotated[
        list[FlowDimension] | None,
        Query(max_length=15, description="Group by these (default remote_addr and remote_port)."),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="Rows; the rest is `other`.")
    ] = 50,
) -> FlowsResponse:
    """What came from where: top remote addresses/ports (403 when flow detail is off)."""
    f = scoped(where, principal)
    dims = list(dict.fromkeys(by or ["remote_addr", "remote_port"]))
    store = ctx.store()
    r = await run_in_threadpool(drilldown, store, dims, f, limit, rng.since, rng.until)
    return FlowsResponse(
        **range_fields(r),
        by=r.by,
        limit=r.limit,
        groups=r.groups,
        rows=[_row(x) for x in r.rows],
        other=_row(r.other) if r.other else None,
        totals=Totals.of(r.totals),
    )
