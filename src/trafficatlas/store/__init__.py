"""The traffic store: tiers 1m → 1h → 1d with retention, flow detail, metadata (peers, settings).

``DuckDBStore``/``open_store`` import DuckDB, so they load on first use rather than with this
package (settings models import it too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trafficatlas.store.dialect import Dialect, DuckDBDialect, Params, SQLiteDialect
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.metadata import MetadataStore, Peer
from trafficatlas.store.protocol import (
    Coverage,
    MaintenanceReport,
    QuerySource,
    Store,
    TierSpan,
    WriteResult,
)
from trafficatlas.store.settings import FlowDetailSettings, StoreSettings

if TYPE_CHECKING:
    from trafficatlas.store.duckdb_store import DuckDBStore, open_store

__all__ = [
    "Coverage",
    "Dialect",
    "DuckDBDialect",
    "DuckDBStore",
    "FlowDetailSettings",
    "FlowRecords",
    "MaintenanceReport",
    "MetadataStore",
    "Params",
    "Peer",
    "QuerySource",
    "SQLiteDialect",
    "Store",
    "StoreSettings",
    "TierSpan",
    "WriteResult",
    "open_store",
]


def __getattr__(name: str) -> Any:
    if name in ("DuckDBStore", "open_store"):
        from trafficatlas.store import duckdb_store

        return getattr(duckdb_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
