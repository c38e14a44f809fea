"""Watermarks and retention for the ClickHouse store.

The views fill every tier on insert, so "rolling up" only moves the watermarks the planner reads,
with the same rules as the DuckDB store (an hour counts as rolled up ``rollup_delay_s`` after it
ends, a day once its hours are; retention never passes the next tier's watermark), so both
stores report the same tier spans and queries give the same answers. Retention then drops every
partition that ends at or before a table's retention start: whole partitions only, so it is
cheap on every server version. Rows between a partition's start and the retention start stay on
disk until their partition goes, but lie outside the reported spans and are never read.

Watermarks live in ``store_state`` (one row per change; they only grow, so the largest value of
a key is current), so several nodes may run this job: it is idempotent.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any

from trafficatlas.errors import ConfigError
from trafficatlas.store.clickhouse.conn import Connection
from trafficatlas.store.clickhouse.schema import FLUSH_LOG_KEEP_S, PARTITIONS, Layout
from trafficatlas.store.protocol import MaintenanceReport
from trafficatlas.store.settings import DAY, HOUR, StoreSettings
from trafficatlas.store.state import StoreState, floor_int, rollup_target_1h

WATERMARKS: tuple[str, ...] = (
    "rolled_until_1h",
    "rolled_until_1d",
    "retained_from_1m",
    "retained_from_1h",
    "retained_from_1d",
    "retained_from_flows",
)
_STATE_SQL = "SELECT key, max(value) FROM store_state GROUP BY key"


def load_state(conn: Connection, settings: StoreSettings, database: str) -> StoreState:
    """The shared state; created on first use, ConfigError when ``interval_s`` differs."""
    values = {str(k): int(v) for k, v in conn.execute(_STATE_SQL)}
    interval = values.get("interval_s")
    if interval is None:
        save_state(conn, {"interval_s": settings.interval_s}, {})
        values = {str(k): int(v) for k, v in conn.execute(_STATE_SQL)}
        interval = values["interval_s"]
    if interval != settings.interval_s:
        raise ConfigError(
            f"the ClickHouse database {database} was created with interval_s = {interval}, "
            f"the settings say {settings.interval_s}; keep {interval} or use another database"
        )
    state = StoreState(interval_s=interval)
    for key in WATERMARKS:
        setattr(state, key, values.get(key, 0))
    return state


def refresh_state(conn: Connection, state: StoreState) -> StoreState:
    """``state`` with watermarks other nodes advanced (each key: the larger value)."""
    fresh = state.copy()
    for key, value in conn.execute(_STATE_SQL):
        if key in WATERMARKS and int(value) > getattr(fresh, str(key)):
            setattr(fresh, str(key), int(value))
    return fresh


def save_state(conn: Connection, values: dict[str, int], insert_settings: dict[str, Any]) -> None:
    if values:
        conn.insert(
            "store_state",
            ("key", "value"),
            [list(values), list(values.values())],
            settings=insert_settings,
        )


def advance(state: StoreState, settings: StoreSettings, now: int) -> StoreState:
    """Watermarks as of ``now`` (never moving back), by the DuckDB store's rules."""
    new = state.copy()
    new.rolled_until_1h = max(state.rolled_until_1h, rollup_target_1h(settings, now))
    new.rolled_until_1d = max(state.rolled_until_1d, floor_int(new.rolled_until_1h, DAY))
    for key, cutoff in new.retention_cutoffs(settings, now).items():
        setattr(new, key, max(getattr(state, key), cutoff))
    return new


def partition_floor(unit: str, point: int) -> int:
    """Start (epoch seconds) of the partition of ``unit`` holding ``point``."""
    if unit == "hour":
        return floor_int(point, HOUR)
    if unit == "day":
        return floor_int(point, DAY)
    moment = datetime.fromtimestamp(point, UTC)
    return calendar.timegm((moment.year, moment.month, 1, 0, 0, 0))


def drop_partitions(conn: Connection, layout: Layout, table: str, cutoff: int) -> int:
    """Drop every partition of ``table`` that ends at or before ``cutoff``; returns rows."""
    expr, unit = PARTITIONS[table]
    column = "last_ts" if table == "flush_log" else "ts"
    limit = partition_floor(unit, cutoff)
    rows = conn.execute(
        f"SELECT {expr} AS p, count() FROM {table} WHERE {column} < %(limit)s GROUP BY p",
        {"limit": limit},
    )
    deleted = 0
    for part, count in rows:
        conn.execute(
            f"ALTER TABLE {layout.local(table)}{layout.on_cluster} DROP PARTITION ID %(p)s",
            {"p": str(part)},
        )
        deleted += int(count)
    return deleted


def run_maintenance(
    conn: Connection,
    layout: Layout,
    state: StoreState,
    settings: StoreSettings,
    now: int,
    insert_settings: dict[str, Any],
) -> tuple[MaintenanceReport, StoreState]:
    """Advance and save the watermarks, then drop expired partitions."""
    report = MaintenanceReport(now=now)
    new = advance(state, settings, now)
    changed = {k: getattr(new, k) for k in WATERMARKS if getattr(new, k) != getattr(state, k)}
    # Saved before anything is dropped: a reader never gets a span whose rows are gone.
    save_state(conn, changed, insert_settings)
    report.rolled_rows = {"1h": 0, "1d": 0}  # the views rolled every row up on insert
    cutoffs = {
        "traffic_1m": new.retained_from_1m,
        "traffic_1h": new.retained_from_1h,
        "traffic_1d": new.retained_from_1d,
        "flows": new.retained_from_flows,
        "flush_log": now - FLUSH_LOG_KEEP_S,
    }
    report.deleted_rows = {
        table: drop_partitions(conn, layout, table, cutoff) for table, cutoff in cutoffs.items()
    }
    return report, new
