"""The ClickHouse store: many collectors and API nodes sharing one server or cluster.

``ClickHouseStore``/``open_clickhouse_store`` load clickhouse-driver on first use, not with this
package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trafficatlas.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from trafficatlas.store.clickhouse.store import ClickHouseStore, open_clickhouse_store

__all__ = ["ClickHouseStore", "StoreUnavailable", "open_clickhouse_store"]


def __getattr__(name: str) -> Any:
    if name in ("ClickHouseStore", "open_clickhouse_store"):
        from trafficatlas.store.clickhouse import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
