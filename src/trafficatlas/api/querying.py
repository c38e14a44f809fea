"""Running a data route's query: peer scope, result cache, worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from trafficatlas.api.cache import cache_key
from trafficatlas.api.context import ApiContext
from trafficatlas.api.params import TimeRange
from trafficatlas.query import Filters, TimeseriesResult, TopResult
from trafficatlas.store import Store


async def answer(
    ctx: ApiContext,
    route: str,
    rng: TimeRange,
    filters: Filters,
    params: tuple[Any, ...],
    compute: Callable[[Store], BaseModel],
) -> Response:
    """JSON of ``compute(store)``; reused while the store's data and the rounded range hold."""
    store = ctx.store()
    version = getattr(store, "data_version", None)  # stores without one are never cached
    key = None
    if isinstance(version, int) and ctx.cache.entries > 0:
        width = store.coverage().interval_s
        key = cache_key(
            route,
            params,
            filters.model_dump_json(),
            int(rng.since // width),
            -int(-rng.until // width),
            version,
        )
    return await ctx.cache.json_response(key, rng.requested, lambda: compute(store))


def range_fields(result: TopResult | TimeseriesResult) -> dict[str, int]:
    """The RangeResult fields of a query result."""
    return {
        "requested_since": result.requested_since,
        "requested_until": result.requested_until,
        "since": result.since,
        "until": result.until,
    }
