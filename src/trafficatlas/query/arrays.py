"""Top-N and per-series ranking for engines without window functions or table CTEs.

ClickHouse 18.16 (Debian's package) has neither ``ROW_NUMBER() OVER`` nor ``WITH name AS
(subquery)``. Here the groups are collected into one array, sorted by a total order (metric
descending as ``bitNot`` of the UInt64, then the key columns ascending: the same order and
tie-break as the standard queries), numbered with ``arrayEnumerate`` and unrolled with ``ARRAY
JOIN``; groups beyond the limit are summed into the "other" row in the same pass. The rows have
exactly the shape of the standard queries in :mod:`.top` and :mod:`.series`, so the code that
reads them is shared. Inner sums get their own aliases: a ClickHouse alias is visible in the whole
SELECT, so ``sum(b) AS b`` next to ``sumIf(b, ...)`` would nest aggregates.
"""

from __future__ import annotations

from trafficatlas.flowbatch import Direction
from trafficatlas.query.models import Filters, Metric
from trafficatlas.query.plan import Plan
from trafficatlas.query.sql import parts_sql
from trafficatlas.store.dialect import Dialect, Params

_SUMS = ("gb", "gp", "gf", "gbs", "gbr")
_METRIC_INDEX: dict[Metric, int] = {"bytes": 0, "packets": 1, "flows": 2}


def _sums(params: Params) -> str:
    """The five sums over the parts, aliased apart from the parts' own columns."""
    sent = params(int(Direction.OUTBOUND))
    received = params(int(Direction.INBOUND))
    return (
        "sum(b) AS gb, sum(p) AS gp, sum(f) AS gf,"
        f" sumIf(b, direction = {sent}) AS gbs, sumIf(b, direction = {received}) AS gbr"
    )


def _grouped(parts: str, cols: list[str], params: Params) -> str:
    group = ", ".join(cols)
    return f"SELECT {group}, {_sums(params)} FROM ({parts}) GROUP BY {group}"


def _sorted(tuple_sql: str, n_keys: int, metric_pos: int, source: str) -> str:
    """``SELECT s``: the tuples of ``source`` in rank order (metric desc, keys asc)."""
    keys = "".join(f", tupleElement(e, {i + 1})" for i in range(n_keys))
    order = f"e -> (bitNot(tupleElement(e, {metric_pos})){keys})"
    return f"SELECT arraySort({order}, groupArray({tuple_sql})) AS s FROM ({source})"


def _rank(limit: int | None, params: Params) -> str:
    """Series/group number: its rank, or 0 ("other") beyond the limit."""
    return "pos" if limit is None else f"if(pos <= {params(limit)}, pos, 0)"


def top_sql(
    d: Dialect,
    plan: Plan,
    keys: tuple[str, ...],
    filters: Filters,
    limit: int | None,
    order_by: Metric,
) -> tuple[str, Params]:
    """Rows ``kind, rn, keys..., b, p, f, bs, br`` as :func:`.top._top_sql` returns them."""
    params = Params(d)
    parts = parts_sql(d, plan, keys, filters, params)
    if not keys:
        return f"SELECT 0 AS kind, 1 AS rn, {_sums(params)} FROM ({parts})", params
    n = len(keys)
    tup = f"tuple({', '.join(keys)}, {', '.join(_SUMS)})"
    ranked = _sorted(tup, n, n + 1 + _METRIC_INDEX[order_by], _grouped(parts, list(keys), params))
    numbered = (
        f"SELECT {_rank(limit, params)} AS grp, x FROM ({ranked})"
        " ARRAY JOIN s AS x, arrayEnumerate(s) AS pos"
    )
    key_sel = ", ".join(f"any(tupleElement(x, {i + 1})) AS k{i}" for i in range(n))
    vals = ", ".join(f"sum(tupleElement(x, {n + 1 + j})) AS v{j}" for j in range(len(_SUMS)))
    sql = (
        f"SELECT if(grp = 0, 1, 0) AS kind, if(grp = 0, count(), grp) AS rn, {key_sel}, {vals}"
        f" FROM ({numbered}) GROUP BY grp ORDER BY kind, rn"
    )
    return sql, params


def series_sql(
    d: Dialect,
    plan: Plan,
    keys: tuple[str, ...],
    filters: Filters,
    limit: int | None,
    order_by: Metric,
) -> tuple[str, Params]:
    """Rows ``t, sid, groups, keys..., b, p, f, bs, br`` as :func:`.series._series_sql`."""
    assert plan.step is not None
    params = Params(d)
    parts = parts_sql(d, plan, keys, filters, params, step=plan.step)
    if not keys:
        sql = f"SELECT t, 1 AS sid, 1 AS groups, {_sums(params)} FROM ({parts}) GROUP BY t"
        return sql, params
    n = len(keys)
    kc = ", ".join(keys)
    metric = _SUMS[_METRIC_INDEX[order_by]]
    per_key = (
        f"SELECT {kc}, sum({metric}) AS total, groupArray(tuple(t, {', '.join(_SUMS)})) AS pts"
        f" FROM ({_grouped(parts, ['t', *keys], params)}) GROUP BY {kc}"
    )
    ranked = _sorted(f"tuple({kc}, total, pts)", n, n + 1, per_key)
    numbered = (
        f"SELECT {_rank(limit, params)} AS sid, length(s) AS groups, x,"
        f" tupleElement(x, {n + 2}) AS pts FROM ({ranked})"
        " ARRAY JOIN s AS x, arrayEnumerate(s) AS pos"
    )
    key_sel = ", ".join(f"any(tupleElement(x, {i + 1})) AS k{i}" for i in range(n))
    vals = ", ".join(f"sum(tupleElement(pt, {j + 2})) AS v{j}" for j in range(len(_SUMS)))
    sql = (
        f"SELECT tupleElement(pt, 1) AS t, sid, groups, {key_sel}, {vals}"
        f" FROM ({numbered}) ARRAY JOIN pts AS pt GROUP BY t, sid, groups"
    )
    return sql, params
