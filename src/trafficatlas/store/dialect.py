"""The SQL dialect seam: the few pieces of SQL that differ between engines.

The query layer writes standard SQL (SELECT, GROUP BY, UNION ALL, window functions) and asks the
dialect for everything engine-specific: parameter placeholders and how values are bound, tier
table names, time bucketing and (conditional) sums. A ClickHouse dialect is one more class here
(``%(p0)s`` placeholders with a dict, ``sum``/``sumIf``, ``intDiv`` bucketing); the queries do not
change. Identifiers come only from code (whitelisted dimension columns); values, including time
bounds and steps, are always bound parameters.

Engines without window functions and table CTEs (ClickHouse 18, still shipped by Debian) say so
with ``window_functions = False``; the query layer then ranks groups with arrays instead
(:mod:`trafficatlas.query.arrays`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

TABLES: dict[str, str] = {
    "1m": "traffic_1m",
    "1h": "traffic_1h",
    "1d": "traffic_1d",
    "flows": "flows",
}


class Dialect(Protocol):
    """Engine-specific SQL fragments."""

    name: str
    # ROW_NUMBER() OVER (...) and WITH name AS (subquery) are available.
    window_functions: bool

    def placeholder(self, index: int) -> str:
        """Placeholder of the ``index``-th (0-based) bound value."""
        ...

    def bind(self, values: list[Any]) -> Sequence[Any] | Mapping[str, Any]:
        """Values in the form the driver expects for the placeholders above."""
        ...

    def table(self, tier: str) -> str:
        """Table holding a tier ("1m", "1h", "1d") or the flow detail ("flows")."""
        ...

    def bucket(self, column: str, step: str) -> str:
        """Start of the ``step``-wide bucket of an epoch-seconds column (step is SQL)."""
        ...

    def sum(self, expr: str) -> str:
        """Exact integer sum."""
        ...

    def sum_if(self, expr: str, cond: str) -> str:
        """Exact integer sum of rows matching ``cond`` (0, not NULL, when none match)."""
        ...


class StandardDialect:
    """SQL understood by DuckDB and SQLite alike (qmark parameters, CASE sums)."""

    name = "standard"
    window_functions = True

    def placeholder(self, index: int) -> str:
        return "?"

    def bind(self, values: list[Any]) -> Sequence[Any] | Mapping[str, Any]:
        return list(values)

    def table(self, tier: str) -> str:
        try:
            return TABLES[tier]
        except KeyError:
            raise ValueError(f"unknown tier {tier!r}") from None

    def bucket(self, column: str, step: str) -> str:
        # Epoch-aligned buckets: steps that divide a day align to UTC days.
        return f"({column} - {column} % {step})"

    def sum(self, expr: str) -> str:
        return f"SUM({expr})"

    def sum_if(self, expr: str, cond: str) -> str:
        return f"SUM(CASE WHEN {cond} THEN {expr} ELSE 0 END)"


class DuckDBDialect(StandardDialect):
    """DuckDB: SUM over UBIGINT yields HUGEINT, so sums never overflow."""

    name = "duckdb"


class SQLiteDialect(StandardDialect):
    """SQLite (used by the benchmark's comparison copy)."""

    name = "sqlite"


class ClickHouseDialect(StandardDialect):
    """ClickHouse (18.16 up): ``%(p0)s`` parameters bound from a dict, sum/sumIf, intDiv buckets.

    Values are formatted into the text on the client (escaped) by the store's connection. Sums of
    UInt64 stay UInt64 (they wrap past 2**64 bytes, which no traffic store reaches).
    """

    name = "clickhouse"
    window_functions = False

    def placeholder(self, index: int) -> str:
        return f"%(p{index})s"

    def bind(self, values: list[Any]) -> Sequence[Any] | Mapping[str, Any]:
        return {f"p{i}": v for i, v in enumerate(values)}

    def bucket(self, column: str, step: str) -> str:
        return f"(intDiv({column}, {step}) * {step})"

    def sum(self, expr: str) -> str:
        return f"sum({expr})"

    def sum_if(self, expr: str, cond: str) -> str:
        return f"sumIf({expr}, {cond})"


class Params:
    """Collects bound values while a query is built; each call returns a placeholder."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return self._dialect.placeholder(len(self.values) - 1)

    def many(self, values: Iterable[Any]) -> str:
        """A parenthesized placeholder list for ``IN``."""
        return "(" + ", ".join(self(v) for v in values) + ")"

    def bound(self) -> Sequence[Any] | Mapping[str, Any]:
        return self._dialect.bind(self.values)
