"""Top-N by any dimensions (rwstats-style), totals, and drill-down into raw flow records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trafficatlas.query import arrays
from trafficatlas.query.attrs import key_attrs
from trafficatlas.query.dims import key_columns
from trafficatlas.query.errors import FlowDetailDisabledError, QueryError
from trafficatlas.query.models import (
    Filters,
    KeyValue,
    Metric,
    SegmentInfo,
    TopResult,
    TopRow,
    Totals,
)
from trafficatlas.query.plan import Plan, Segment, TimeLike, plan_range, time_range
from trafficatlas.query.sql import METRIC_ALIAS, parts_sql, summed, summed_parts
from trafficatlas.store.dialect import Params
from trafficatlas.store.protocol import QuerySource


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise QueryError("limit must be at least 1 (or none for every row)")


def _values(row: Sequence[Any]) -> Totals:
    b, p, f, bs, br = (int(v or 0) for v in row)
    return Totals(bytes=b, packets=p, flows=f, bytes_sent=bs, bytes_received=br)


def _top_sql(
    source: QuerySource,
    plan: Plan,
    keys: tuple[str, ...],
    filters: Filters,
    limit: int | None,
    order_by: Metric,
) -> tuple[str, Params]:
    d = source.dialect
    if not d.window_functions:
        return arrays.top_sql(d, plan, keys, filters, limit, order_by)
    params = Params(d)
    parts = parts_sql(d, plan, keys, filters, params)
    if not keys:
        totals = summed_parts(d, params)
        return f"WITH parts AS ({parts}) SELECT 0 AS kind, 1 AS rn, {totals} FROM parts", params
    kc = ", ".join(keys)
    order = ", ".join([f"{METRIC_ALIAS[order_by]} DESC", *keys])
    sql = (
        f"WITH parts AS ({parts}),"
        f" g AS (SELECT {kc}, {summed_parts(d, params)} FROM parts GROUP BY {kc}),"
        f" r AS (SELECT {kc}, b, p, f, bs, br, ROW_NUMBER() OVER (ORDER BY {order}) AS rn FROM g)"
    )
    if limit is None:
        return f"{sql} SELECT 0 AS kind, rn, {kc}, b, p, f, bs, br FROM r ORDER BY rn", params
    nulls = ", ".join("NULL" for _ in keys)
    sql += (
        f" SELECT 0 AS kind, rn, {kc}, b, p, f, bs, br FROM r WHERE rn <= {params(limit)}"
        f" UNION ALL SELECT 1 AS kind, COUNT(*) AS rn, {nulls}, {summed(d)} FROM r"
        f" WHERE rn > {params(limit)} ORDER BY kind, rn"
    )
    return sql, params


def run_top(
    source: QuerySource,
    by: Sequence[str],
    keys: tuple[str, ...],
    filters: Filters,
    limit: int | None,
    plan: Plan,
    requested: tuple[int, int],
    order_by: Metric,
) -> TopResult:
    """Execute a planned top-N query and assemble the result."""
    rows: list[TopRow] = []
    other: TopRow | None = None
    other_groups = 0
    if plan.segments:
        sql, params = _top_sql(source, plan, keys, filters, limit, order_by)
        n = len(keys)
        for rec in source.fetch(sql, params.bound()):
            kind, rank, key_vals, vals = rec[0], int(rec[1] or 0), rec[2 : 2 + n], rec[2 + n :]
            if kind == 0:
                key: dict[str, KeyValue] = dict(zip(keys, key_vals, strict=True))
                rows.append(TopRow(rank=rank, key=key, **_values(vals).model_dump()))
            elif rank:
                other_groups = rank
                other = TopRow(rank=0, **_values(vals).model_dump())
    if not keys and rows and rows[0].bytes == rows[0].packets == rows[0].flows == 0:
        rows = []
    totals = Totals()
    for r in [*rows, *([other] if other else [])]:
        for field in Totals.model_fields:
            setattr(totals, field, getattr(totals, field) + getattr(r, field))
    base = getattr(totals, order_by)
    running = 0
    for r in rows:
        running += getattr(r, order_by)
        r.percent = 100.0 * getattr(r, order_by) / base if base else 0.0
        r.cumulative_percent = 100.0 * running / base if base else 0.0
    if other is not None:
        other.percent = 100.0 * getattr(other, order_by) / base if base else 0.0
        other.cumulative_percent = 100.0 if base else 0.0
    for r, attrs in zip(rows, key_attrs(source, [r.key for r in rows]), strict=True):
        r.attrs = attrs
    return TopResult(
        by=list(by),
        order_by=order_by,
        since=plan.since,
        until=plan.until,
        requested_since=requested[0],
        requested_until=requested[1],
        limit=limit,
        groups=len(rows) + other_groups,
        rows=rows,
        other=other,
        other_groups=other_groups,
        totals=totals,
        segments=[SegmentInfo(tier=s.tier, start=s.start, end=s.end) for s in plan.segments],
    )


def top(
    store: QuerySource,
    by: Sequence[str],
    filters: Filters | None = None,
    limit: int | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    *,
    order_by: Metric = "bytes",
) -> TopResult:
    """Traffic grouped by ``by`` over [since, until) (default: last 24 h), largest first.

    With a ``limit``, the groups beyond it are summed in ``other``; without one every group is
    returned. Totals, percentages and sent/received splits are exact.
    """
    _check_limit(limit)
    keys = key_columns(by)
    start, end = time_range(since, until)
    plan = plan_range(store.coverage(), start, end)
    return run_top(store, by, keys, filters or Filters(), limit, plan, (start, end), order_by)


def totals(
    store: QuerySource,
    filters: Filters | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
) -> TopResult:
    """Total bytes/packets/flows (and sent/received) over the range; ``totals`` field holds them."""
    return top(store, [], filters, None, since, until)


def drilldown(
    store: QuerySource,
    by: Sequence[str] = ("remote_addr", "remote_port"),
    filters: Filters | None = None,
    limit: int | None = 50,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    *,
    order_by: Metric = "bytes",
) -> TopResult:
    """Top remote addresses/ports (or any dimension) from raw flow records.

    Raises FlowDetailDisabledError when the store keeps no flow detail. The range is clamped to the
    flow detail's retention (reported in the result's ``since``).
    """
    flows_start = store.coverage().flows_start
    if flows_start is None:
        raise FlowDetailDisabledError(
            "drill-down needs flow detail, which is off: set store.flow_detail.enabled = true "
            "(only flows recorded after that can be drilled into)"
        )
    _check_limit(limit)
    keys = key_columns(by, flows=True)
    start, end = time_range(since, until)
    first = max(start, flows_start)
    segments = (Segment("flows", first, end),) if first < end else ()
    plan = Plan(first if first < end else start, end, segments)
    return run_top(store, by, keys, filters or Filters(), limit, plan, (start, end), order_by)
