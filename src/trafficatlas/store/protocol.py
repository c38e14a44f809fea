"""The `Store` protocol: what the pipeline writes to and the query layer reads from.

A store keeps traffic in tiers of growing bucket width (finest = the aggregator's interval, then
1 h, then 1 d). Each tier holds *exact* sums for a known time span, reported by
:meth:`QuerySource.coverage`; the query layer combines tiers over those spans so answers are exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store.dialect import Dialect
from trafficatlas.store.flows import FlowRecords

TIER_NAMES: tuple[str, ...] = ("1m", "1h", "1d")


@dataclass(frozen=True, slots=True)
class TierSpan:
    """One tier: bucket width and the span [start, end) for which it holds every row exactly."""

    name: str  # "1m" (the finest: interval buckets), "1h" or "1d"
    width: int  # bucket width in seconds
    start: int  # first second held (aligned to width); earlier rows were removed by retention
    end: int | None  # rolled-up-until watermark (exclusive); None: open-ended (finest tier)

    def holds(self, point: int) -> bool:
        """True when the second ``point`` falls in this tier's exact span."""
        return self.start <= point and (self.end is None or point < self.end)


@dataclass(frozen=True, slots=True)
class Coverage:
    """What a store can answer: tiers (finest first) and the flow-detail span."""

    tiers: tuple[TierSpan, ...]
    # First second of flow detail still kept; None when flow detail is off.
    flows_start: int | None = None

    @property
    def interval_s(self) -> int:
        return self.tiers[0].width


@dataclass(slots=True)
class WriteResult:
    """What one :meth:`Store.write` did."""

    rows_in: int = 0
    # Rows inserted or merged per tier ("1m", and "1h"/"1d" for late rows behind the rollup).
    rows_by_tier: dict[str, int] = field(default_factory=dict)
    # Rows of private peers written without country/city/asn/label.
    private_rows: int = 0
    # The flush id had been written before: nothing was written this time.
    duplicate: bool = False
    # Rows older than every tier's retention (dropped: no tier keeps that time any more).
    expired_rows: int = 0


@dataclass(slots=True)
class MaintenanceReport:
    """What one :meth:`Store.run_maintenance` did."""

    now: int
    rolled_rows: dict[str, int] = field(default_factory=dict)  # rows inserted per target tier
    deleted_rows: dict[str, int] = field(default_factory=dict)  # rows removed per table
    compacted: bool = False
    coverage: Coverage | None = None


class QuerySource(Protocol):
    """The read side the query layer needs (DuckDB store, a ClickHouse cluster, a bench copy)."""

    @property
    def dialect(self) -> Dialect: ...

    def coverage(self) -> Coverage:
        """Tier spans as of now (cheap: no I/O)."""
        ...

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run one read query with bound parameters; rows as tuples."""
        ...

    def peer_names(self) -> dict[str, str]:
        """Display names of peers by stable id (ids without a name are absent)."""
        ...


class Store(QuerySource, Protocol):
    """A traffic store owned by one process: writes, maintenance and reads."""

    def write(self, rows: AggregateRows, flush_id: str | None = None) -> WriteResult:
        """Merge one flush of aggregated rows (sums per key) in one transaction.

        With a ``flush_id``, writing the same id again is a no-op (``duplicate=True``).
        """
        ...

    def write_flows(self, records: FlowRecords) -> int:
        """Keep raw flow records when flow detail is enabled; returns the number kept."""
        ...

    def run_maintenance(self, now: float | None = None) -> MaintenanceReport:
        """Roll finished buckets up, apply retention, compact when worthwhile."""
        ...

    def close(self) -> None: ...
