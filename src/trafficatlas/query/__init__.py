"""The query layer used by the API, the CLI and the web UI alike.

Every function takes a :class:`~trafficatlas.store.protocol.QuerySource` (the DuckDB store, or
any store speaking through the dialect seam) and returns exact results: a ``limit`` is explicit,
reported, and what lies beyond it is summed in an "other" row or series.
"""

from __future__ import annotations

from trafficatlas.query.dims import DIMENSIONS, Dimension
from trafficatlas.query.errors import FlowDetailDisabledError, QueryError
from trafficatlas.query.models import (
    Filters,
    Metric,
    SegmentInfo,
    Series,
    TimeseriesResult,
    TopResult,
    TopRow,
    Totals,
)
from trafficatlas.query.plan import MAX_POINTS, STEPS, Plan, Segment, to_epoch
from trafficatlas.query.series import timeseries
from trafficatlas.query.top import drilldown, top, totals

__all__ = [
    "DIMENSIONS",
    "MAX_POINTS",
    "STEPS",
    "Dimension",
    "Filters",
    "FlowDetailDisabledError",
    "Metric",
    "Plan",
    "QueryError",
    "Segment",
    "SegmentInfo",
    "Series",
    "TimeseriesResult",
    "TopResult",
    "TopRow",
    "Totals",
    "drilldown",
    "timeseries",
    "to_epoch",
    "top",
    "totals",
]
