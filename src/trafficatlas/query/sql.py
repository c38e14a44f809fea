"""SQL shared by the queries: the per-tier parts of a range, filtered and pre-summed.

Each tier answering part of the range contributes one ``SELECT ... GROUP BY`` (its segments
OR-ed on ``ts``); the parts are combined with ``UNION ALL`` and summed again by the caller.
Column names come from the dimension whitelist; every value is a bound parameter.
"""

from __future__ import annotations

from trafficatlas.flowbatch import Direction
from trafficatlas.query.models import Filters, Metric
from trafficatlas.query.plan import Plan
from trafficatlas.store.dialect import Dialect, Params

# Aliases of the summed values once parts are combined: bytes, packets, flows, sent, received.
VALUE_ALIASES: tuple[str, ...] = ("b", "p", "f", "bs", "br")
METRIC_ALIAS: dict[Metric, str] = {"bytes": "b", "packets": "p", "flows": "f"}


def parts_sql(
    dialect: Dialect,
    plan: Plan,
    keys: tuple[str, ...],
    filters: Filters,
    params: Params,
    *,
    step: int | None = None,
) -> str:
    """``SELECT [t,] keys, direction, b, p, f`` per tier, joined by UNION ALL."""
    by_tier: dict[str, list[tuple[int, int]]] = {}
    for seg in plan.segments:
        by_tier.setdefault(seg.tier, []).append((seg.start, seg.end))
    parts: list[str] = []
    for tier, spans in by_tier.items():
        select: list[str] = []
        group: list[str] = []
        if step is not None:
            select.append(f"{dialect.bucket('ts', params(step))} AS t")
            group.append("t")
        select.extend(keys)
        group.extend(keys)
        if "direction" not in keys:
            # Sent/received are split after this grouping: cheaper than two CASE sums per row.
            select.append("direction")
            group.append("direction")
        select.append(f"{dialect.sum('bytes')} AS b")
        select.append(f"{dialect.sum('packets')} AS p")
        select.append(f"{dialect.sum('flows')} AS f")
        when = " OR ".join(f"(ts >= {params(a)} AND ts < {params(b)})" for a, b in spans)
        where = [f"({when})"]
        for column, values in filters.conditions():
            where.append(f"{column} IN {params.many(values)}")
        sql = f"SELECT {', '.join(select)} FROM {dialect.table(tier)} WHERE {' AND '.join(where)}"
        if group:
            sql += f" GROUP BY {', '.join(group)}"
        parts.append(sql)
    return " UNION ALL ".join(parts)


def summed_parts(dialect: Dialect, params: Params) -> str:
    """The five values summed over parts: bytes, packets, flows, sent, received."""
    sent = params(int(Direction.OUTBOUND))
    received = params(int(Direction.INBOUND))
    return ", ".join(
        [
            f"{dialect.sum('b')} AS b",
            f"{dialect.sum('p')} AS p",
            f"{dialect.sum('f')} AS f",
            f"{dialect.sum_if('b', f'direction = {sent}')} AS bs",
            f"{dialect.sum_if('b', f'direction = {received}')} AS br",
        ]
    )


def summed(dialect: Dialect, prefix: str = "") -> str:
    """``SUM(b) AS b, ...`` over the value aliases (optionally qualified)."""
    return ", ".join(f"{dialect.sum(prefix + a)} AS {a}" for a in VALUE_ALIASES)
