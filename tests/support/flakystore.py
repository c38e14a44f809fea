"""FlakyStore: a real store whose writes raise StoreUnavailable while a test says it is down.

For tests of the spool and of collector roles, where the component under test is what sits in
front of the store, not the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store.dialect import Dialect
from trafficatlas.store.duckdb_store import DuckDBStore
from trafficatlas.store.errors import StoreUnavailable
from trafficatlas.store.flows import FlowRecords
from trafficatlas.store.protocol import Coverage, MaintenanceReport, WriteResult


class FlakyStore:
    """A real store whose writes fail with StoreUnavailable while ``down`` (or ``fail_next``)."""

    def __init__(self, inner: DuckDBStore) -> None:
        self.inner = inner
        self.down = False
        self.fail_next = 0
        self.lose_ack_next = 0  # written, then the "network" fails before the answer
        self.reject_flush: str | None = None  # refused as invalid rows
        self.received: list[str | None] = []  # flush ids the real store got, in order
        self.metadata = inner.metadata

    def _gate(self) -> None:
        if self.down or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise StoreUnavailable("connection refused (test)")

    @property
    def dialect(self) -> Dialect:
        return self.inner.dialect

    def coverage(self) -> Coverage:
        return self.inner.coverage()

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.inner.fetch(sql, params)

    def peer_names(self) -> dict[str, str]:
        return self.inner.peer_names()

    def write(self, rows: AggregateRows, flush_id: str | None = None) -> WriteResult:
        self._gate()
        if flush_id is not None and flush_id == self.reject_flush:
            raise ValueError("rows rejected by the store (test)")
        result = self.inner.write(rows, flush_id=flush_id)
        self.received.append(flush_id)
        if self.lose_ack_next > 0:
            self.lose_ack_next -= 1
            raise StoreUnavailable("connection reset after the insert (test)")
        return result

    def write_flows(self, records: FlowRecords) -> int:
        self._gate()
        return self.inner.write_flows(records)

    def run_maintenance(self, now: float | None = None) -> MaintenanceReport:
        return self.inner.run_maintenance(now)

    def close(self) -> None:
        self.inner.close()
