"""The dialect seam: the same query layer answers the same on SQLite and with another
placeholder style, so an engine is an added dialect, not a rewrite."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trafficatlas.query import Filters, timeseries, top
from trafficatlas.store.dialect import Dialect, Params, SQLiteDialect, StandardDialect
from trafficatlas.store.duckdb_store import DuckDBStore
from trafficatlas.store.protocol import Coverage
from trafficatlas.store.schema import TRAFFIC_COLUMNS

from support.storedata import BASE, HOUR


class SQLiteCopy:
    def __init__(self, store: DuckDBStore, path: Path) -> None:
        self.conn = sqlite3.connect(path)
        self._coverage = store.coverage()
        self._names = store.peer_names()
        self.dialect: Dialect = SQLiteDialect()
        cols = ", ".join(TRAFFIC_COLUMNS)
        marks = ", ".join("?" for _ in TRAFFIC_COLUMNS)
        for table in ("traffic_1m", "traffic_1h", "traffic_1d"):
            self.conn.execute(f"CREATE TABLE {table} ({cols})")
            rows = store.fetch(f"SELECT {cols} FROM {table}", [])
            self.conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        self.conn.execute("CREATE TABLE asn_names (asn, org)")
        self.conn.executemany(
            "INSERT INTO asn_names VALUES (?, ?)", store.fetch("SELECT * FROM asn_names", [])
        )
        self.conn.execute("CREATE TABLE cities (country, city, lat, lon)")
        self.conn.executemany(
            "INSERT INTO cities VALUES (?, ?, ?, ?)", store.fetch("SELECT * FROM cities", [])
        )

    def coverage(self) -> Coverage:
        return self._coverage

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def peer_names(self) -> dict[str, str]:
        return self._names


class NumberedDialect(StandardDialect):
    """``$1, $2, ...`` placeholders (DuckDB accepts them too)."""

    name = "numbered"

    def placeholder(self, index: int) -> str:
        return f"${index + 1}"


class Renamed:
    """The DuckDB store seen through another dialect."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store
        self.dialect: Dialect = NumberedDialect()

    def coverage(self) -> Coverage:
        return self._store.coverage()

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        assert "?" not in sql
        return self._store.fetch(sql, params)

    def peer_names(self) -> dict[str, str]:
        return self._store.peer_names()


def _queries(source: Any) -> list[Any]:
    return [
        top(source, ["country"], Filters(), 2, BASE, BASE + HOUR).model_dump(),
        top(
            source, ["city", "asn"], Filters(direction=["sent"]), None, BASE, BASE + HOUR
        ).model_dump(),
        top(source, ["peer"], Filters(country=["DE", "US"]), None, BASE, BASE + HOUR).model_dump(),
        timeseries(source, ["country"], Filters(), BASE, BASE + 600, 60, limit=2).model_dump(),
        timeseries(source, [], Filters(peer=["bob"]), BASE, BASE + 600, 120).model_dump(),
    ]


def test_sqlite_copy_answers_the_same(hand_store: DuckDBStore, tmp_path: Path) -> None:
    hand_store.run_maintenance(now=BASE + 2 * 86_400)
    copy = SQLiteCopy(hand_store, tmp_path / "copy.sqlite3")
    try:
        assert _queries(copy) == _queries(hand_store)
    finally:
        copy.conn.close()


def test_other_placeholder_style_answers_the_same(hand_store: DuckDBStore) -> None:
    assert _queries(Renamed(hand_store)) == _queries(hand_store)


def test_params_collect_values_in_placeholder_order() -> None:
    params = Params(NumberedDialect())
    text = f"a = {params(1)} AND b IN {params.many(['x', 'y'])}"
    assert text == "a = $1 AND b IN ($2, $3)" and params.bound() == [1, "x", "y"]
