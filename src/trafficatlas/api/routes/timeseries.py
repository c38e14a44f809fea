"""Traffic over time, split by any dimensions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from trafficatlas.api.deps import Authenticated, Ctx, scoped
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.common import Totals
from trafficatlas.api.models.traffic import Series, TimeseriesResponse
from trafficatlas.api.params import TimeRange, filters, invalid, time_range
from trafficatlas.api.querying import answer, range_fields
from trafficatlas.query import Filters, timeseries
from trafficatlas.query import Series as QuerySeries
from trafficatlas.query.dims import GroupDimension
from trafficatlas.store import Store
from trafficatlas.store.settings import parse_duration

router = APIRouter(
    prefix="/api/metrics", tags=["timeseries"], responses=error_doc(400, 401, 403, 503)
)

Metric = Literal["bytes", "packets", "flows"]


def _series(s: QuerySeries) -> Series:
    return Series(
        rank=s.rank,
        key=s.key,
        attrs=s.attrs,
        totals=Totals.of(s.totals),
        total_bytes=s.bytes,
        tx_bytes=s.bytes_sent,
        rx_bytes=s.bytes_received,
        packets=s.packets,
        flows=s.flows,
    )


def series_result(
    store: Store,
    by: list[str],
    f: Filters,
    rng: TimeRange,
    step: int | None,
    limit: int | None,
    order_by: Metric,
) -> TimeseriesResponse:
    r = timeseries(store, by, f, rng.since, rng.until, step, limit, order_by=order_by)
    return TimeseriesResponse(
        **range_fields(r),
        by=r.by,
        step=r.step,
        timestamps=r.timestamps,
        limit=r.limit,
        groups=r.groups,
        series=[_series(s) for s in r.series],
        other=_series(r.other) if r.other else None,
        totals=Totals.of(r.totals),
    )


@router.get("/timeseries", operation_id="timeseries", response_model=TimeseriesResponse)
async def series(
    ctx: Ctx,
    principal: Authenticated,
    rng: Annotated[TimeRange, Depends(time_range)],
    where: Annotated[Filters, Depends(filters)],
    by: Annotated[
        list[GroupDimension] | None,
        Query(max_length=11, description="Split into one series per key of these."),
    ] = None,
    step: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Seconds per point (300 or 5m); default: the finest step giving at "
            "most 800 points that the stored tiers answer exactly.",
        ),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="Series returned; the rest is `other`.")
    ] = 10,
    order_by: Annotated[Metric, Query(description="What ranks the series.")] = "bytes",
) -> Response:
    """Time series by dimension at a step; every step is present (zero-filled)."""
    seconds: int | None = None
    if step:
        try:
            seconds = parse_duration(step)
        except ValueError as exc:
            raise invalid("step", str(exc), step) from None
        if not 0 < seconds <= 366 * 86400:
            raise invalid("step", "step must be between 1 s and a year", step)
    f = scoped(where, principal)
    dims: list[str] = list(dict.fromkeys(by or []))
    return await answer(
        ctx,
        "timeseries",
        rng,
        f,
        (tuple(dims), seconds, limit, order_by),
        lambda s: series_result(s, dims, f, rng, seconds, limit, order_by),
    )
