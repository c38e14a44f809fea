"""Time series by dimension, zero-filled, at a step chosen from the range (or given)."""

from __future__ import annotations

from collections.abc import Sequence

from trafficatlas.query import arrays
from trafficatlas.query.attrs import key_attrs
from trafficatlas.query.dims import key_columns
from trafficatlas.query.errors import QueryError
from trafficatlas.query.models import (
    Filters,
    KeyValue,
    Metric,
    SegmentInfo,
    Series,
    TimeseriesResult,
    Totals,
)
from trafficatlas.query.plan import Plan, TimeLike, choose_step, plan_series, time_range
from trafficatlas.query.sql import METRIC_ALIAS, parts_sql, summed, summed_parts
from trafficatlas.store.dialect import Params
from trafficatlas.store.protocol import QuerySource

_FIELDS = ("bytes", "packets", "flows", "bytes_sent", "bytes_received")


def _series_sql(
    source: QuerySource,
    plan: Plan,
    keys: tuple[str, ...],
    filters: Filters,
    limit: int | None,
    order_by: Metric,
) -> tuple[str, Params]:
    d = source.dialect
    if not d.window_functions:
        return arrays.series_sql(d, plan, keys, filters, limit, order_by)
    params = Params(d)
    assert plan.step is not None
    parts = parts_sql(d, plan, keys, filters, params, step=plan.step)
    if not keys:
        values = summed_parts(d, params)
        sql = f"WITH parts AS ({parts}) SELECT t, 1 AS sid, 1 AS groups, {values} FROM parts"
        return sql + " GROUP BY t", params
    kc = ", ".join(keys)
    order = ", ".join([f"{d.sum(METRIC_ALIAS[order_by])} DESC", *keys])
    join = " AND ".join(f"g.{k} = rk.{k}" for k in keys)
    sql = (
        f"WITH parts AS ({parts}),"
        f" g AS (SELECT t, {kc}, {summed_parts(d, params)} FROM parts GROUP BY t, {kc}),"
        f" rk AS (SELECT {kc}, ROW_NUMBER() OVER (ORDER BY {order}) AS rn FROM g GROUP BY {kc})"
    )
    if limit is None:
        sid = "rk.rn"
        key_sel = ", ".join(f"MIN(g.{k}) AS k_{k}" for k in keys)
    else:
        sid = f"CASE WHEN rk.rn <= {params(limit)} THEN rk.rn ELSE 0 END"
        key_sel = ", ".join(
            f"MIN(CASE WHEN rk.rn <= {params(limit)} THEN g.{k} END) AS k_{k}" for k in keys
        )
    sql += (
        f" SELECT g.t AS t, {sid} AS sid, (SELECT COUNT(*) FROM rk) AS groups, {key_sel},"
        f" {summed(d, 'g.')} FROM g JOIN rk ON {join} GROUP BY g.t, sid"
    )
    return sql, params


def timeseries(
    store: QuerySource,
    by: Sequence[str] = (),
    filters: Filters | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    step: int | None = None,
    limit: int | None = None,
    *,
    order_by: Metric = "bytes",
) -> TimeseriesResult:
    """Traffic per ``step`` seconds over [since, until), one series per key of ``by``.

    Without ``step`` the finest step giving at most 800 points that the tiers answer exactly is
    chosen. With a ``limit``, series beyond it (ranked by their total) are summed into
    ``other``. Every bucket of the range is present, zero when there was no traffic.
    """
    if limit is not None and limit < 1:
        raise QueryError("limit must be at least 1 (or none for every series)")
    keys = key_columns(by)
    start, end = time_range(since, until)
    coverage = store.coverage()
    plan = plan_series(coverage, start, end, step) if step else choose_step(coverage, start, end)
    assert plan.step is not None
    n = max(0, (plan.until - plan.since) // plan.step)
    values: dict[int, dict[str, list[int]]] = {}
    key_of: dict[int, dict[str, KeyValue]] = {}
    groups = 0
    if plan.segments:
        sql, params = _series_sql(store, plan, keys, filters or Filters(), limit, order_by)
        for rec in store.fetch(sql, params.bound()):
            t, sid, groups = int(rec[0]), int(rec[1]), int(rec[2])
            key_vals, vals = rec[3 : 3 + len(keys)], rec[3 + len(keys) :]
            slot = values.get(sid)
            if slot is None:
                slot = values[sid] = {f: [0] * n for f in _FIELDS}
                if sid:
                    key_of[sid] = dict(zip(keys, key_vals, strict=True))
            i = (t - plan.since) // plan.step
            for f, v in zip(_FIELDS, vals, strict=True):
                slot[f][i] += int(v or 0)
    series: list[Series] = []
    other: Series | None = None
    attrs = key_attrs(store, [key_of[s] for s in sorted(key_of)])
    attr_of = dict(zip(sorted(key_of), attrs, strict=True))
    for sid in sorted(values):
        slot = values[sid]
        tot = Totals(**{f: sum(slot[f]) for f in _FIELDS})
        item = Series(
            rank=sid, key=key_of.get(sid, {}), attrs=attr_of.get(sid, {}), totals=tot, **slot
        )
        if sid == 0:
            other = item
        else:
            series.append(item)
    grand = Totals(
        **{
            f: sum(getattr(s.totals, f) for s in [*series, *([other] if other else [])])
            for f in _FIELDS
        }
    )
    if not keys:
        groups = 1 if series else 0
    return TimeseriesResult(
        by=list(by),
        order_by=order_by,
        since=plan.since,
        until=plan.until,
        requested_since=start,
        requested_until=end,
        step=plan.step,
        timestamps=list(range(plan.since, plan.since + n * plan.step, plan.step)),
        limit=limit,
        groups=groups,
        series=series,
        other=other,
        totals=grand,
        segments=[SegmentInfo(tier=s.tier, start=s.start, end=s.end) for s in plan.segments],
    )
