"""The SQL dialect seam: the few pieces of SQL that differ between engines.

The query layer writes standard SQL (SELECT, GROUP BY, UNION ALL, window functions) and asks the
dialect for everything engine-specific: parameter placeholders and how values are bound, tier
table names, time bucketing and (conditional) sums. A ClickHouse dialect is one more class here
(``%(p0)s`` placeholders with a dict, ``sum``/``sumIf``, ``intDiv`` bucketing); the queries do not
change. Identifiers come only from code (whitelisted dimension columns); values, including time
bounds and steps, are always bound parameters.
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
