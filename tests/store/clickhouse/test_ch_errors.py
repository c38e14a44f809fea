"""ClickHouse failures are typed: unreachable, bad settings, bad values; parameters escaped."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trafficatlas.errors import ConfigError, DatabaseError
from trafficatlas.store import StoreSettings
from trafficatlas.store.clickhouse import StoreUnavailable, open_clickhouse_store
from trafficatlas.store.clickhouse.sqlfmt import format_query, quote

from support.clickhouse import ClickHouseServer, StoreFactory, free_port


def _settings(**clickhouse: object) -> StoreSettings:
    return StoreSettings(clickhouse=clickhouse)  # type: ignore[arg-type]


def test_an_unreachable_server_is_store_unavailable_at_once(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
        open_clickhouse_store(_settings(port=port, connect_timeout_s=2.0), tmp_path)
    assert time.monotonic() - started < 2.0
    assert isinstance(StoreUnavailable("x"), DatabaseError)


def test_bad_credentials_are_config_errors(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"store\.clickhouse"):
        open_clickhouse_store(_settings(port=clickhouse_server.port, user="nobody"), tmp_path)
    with pytest.raises(ConfigError, match=r"store\.clickhouse"):
        open_clickhouse_store(_settings(port=clickhouse_server.port, password="guess"), tmp_path)
    with pytest.raises(ConfigError, match="host"):
        open_clickhouse_store(_settings(host=" "), tmp_path)


def test_open_clickhouse_store_creates_the_database_and_metadata(
    clickhouse_server: ClickHouseServer, tmp_path: Path
) -> None:
    name = f"opened_{free_port()}"
    settings = _settings(port=clickhouse_server.port, database=name, node_id="n1")
    try:
        with open_clickhouse_store(settings, tmp_path) as store:
            assert store.node == "n1" and store.metadata is not None
            assert (tmp_path / "metadata.sqlite3").exists()
            assert store.coverage().interval_s == 60
        with pytest.raises(DatabaseError, match="closed"):
            store.fetch("SELECT 1", {})
    finally:
        clickhouse_server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_another_interval_is_a_config_error(open_ch: StoreFactory) -> None:
    store = open_ch()
    with pytest.raises(ConfigError, match="interval_s = 60"):
        open_ch(StoreSettings(interval_s=300), database=store.layout.database)


def test_fetch_takes_named_parameters_only(open_ch: StoreFactory) -> None:
    store = open_ch()
    assert store.fetch("SELECT 1", []) == [(1,)]
    with pytest.raises(ValueError, match="named"):
        store.fetch("SELECT ?", [1])
    with pytest.raises(DatabaseError, match="traffic_2m"):
        store.fetch("SELECT count() FROM traffic_2m", {})


TRICKY = [
    "x' OR 1=1 --",
    "back\\slash",
    "quote'\"",
    "line\nbreak\ttab",
    "%(p0)s",
    "Zürich 東京",
    "",
]


def test_values_reach_the_engine_exactly(open_ch: StoreFactory) -> None:
    store = open_ch()
    params = {f"p{i}": v for i, v in enumerate(TRICKY)}
    sql = "SELECT " + ", ".join(f"%(p{i})s" for i in range(len(TRICKY)))
    assert store.fetch(sql, params) == [tuple(TRICKY)]
    big = 2**64 - 1
    assert store.fetch("SELECT %(a)s, %(b)s, %(c)s", {"a": big, "b": -5, "c": 0.25}) == [
        (big, -5, 0.25)
    ]


def test_formatting_replaces_only_named_tokens() -> None:
    assert format_query("SELECT 7 % 3, %(a)s", {"a": "%(b)s"}) == "SELECT 7 % 3, '%(b)s'"
    assert quote([1, "a"]) == "[1, 'a']" and quote((1, 2)) == "tuple(1, 2)"
    assert quote(True) == "1" and quote(None) == "NULL"
    with pytest.raises(ValueError, match="non-finite"):
        quote(float("nan"))
    with pytest.raises(TypeError, match="bytes"):
        quote(b"raw")
    with pytest.raises(KeyError):
        format_query("SELECT %(missing)s", {"a": 1})
