"""Fixtures: ClickHouse stores on Debian's server (18.16) and on chDB (the current engine)."""

from __future__ import annotations

import pytest

from support.clickhouse import StoreFactory, store_factory


@pytest.fixture(params=["clickhouse", "chdb"])
def open_ch(request: pytest.FixtureRequest) -> StoreFactory:
    """Opens fresh ClickHouse stores on either engine (see support.clickhouse.store_factory)."""
    return store_factory(request, str(request.param))


@pytest.fixture
def open_server_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Opens fresh stores on the Debian clickhouse-server only."""
    return store_factory(request, "clickhouse")
