"""The store's own job: roll finished buckets up (1m → 1h → 1d), apply retention, compact.

Each step is a transaction that moves data and its watermark together, so running the job twice,
or again after a crash part-way, neither loses nor double counts anything. Rollups work in chunks
of at most a day so memory stays bounded after a long downtime.
"""

from __future__ import annotations

from typing import Any

import duckdb

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS
from trafficatlas.logging import get_logger
from trafficatlas.store.dialect import TABLES
from trafficatlas.store.protocol import MaintenanceReport
from trafficatlas.store.settings import StoreSettings
from trafficatlas.store.state import DAY, HOUR, StoreState, floor_int, rollup_target_1h
from trafficatlas.store.txn import Transaction, scalar

FLUSH_LOG_KEEP_S = 7 * DAY  # retries of a flush older than this are not expected

_NON_TS_KEYS = ", ".join(KEY_COLUMNS[1:])
_SUMS = ", ".join(f"SUM({v})::UBIGINT" for v in VALUE_COLUMNS)

log = get_logger(__name__)


def _txn(conn: Any, statements: list[tuple[str, list[Any]]], state: StoreState, *keys: str) -> int:
    """Run statements and save state keys in one transaction; returns rows of the first."""
    first = 0
    with Transaction(conn):
        for i, (sql, params) in enumerate(statements):
            value = scalar(conn, sql, params)
            if i == 0 and value is not None:
                first = int(value)
        state.save(conn, *keys)
    return first


def _roll(conn: Any, state: StoreState, source: str, target: str, width: int, until: int) -> int:
    """Roll ``source`` rows of [watermark, until) into ``target`` buckets of ``width``."""
    key = f"rolled_until_{target}"
    mark = int(getattr(state, key))
    if until <= mark:
        return 0
    src, dst = TABLES[source], TABLES[target]
    first = scalar(conn, f"SELECT min(ts) FROM {src} WHERE ts >= ?", [mark])
    total = 0
    # Skip the span without source rows at once (e.g. the first run on a new store).
    start = until if first is None else min(until, max(mark, floor_int(int(first), width)))
    while True:
        # Chunks of at most a day (aligned); the last one ends at `until`.
        end = min(floor_int(start, DAY) + DAY, until)
        trial = state.copy()
        setattr(trial, key, end)
        stmts: list[tuple[str, list[Any]]] = []
        if start < end:
            stmts.append(
                (
                    f"INSERT INTO {dst} SELECT ts - ts % {width} AS ts, {_NON_TS_KEYS}, {_SUMS}"
                    f" FROM {src} WHERE ts >= ? AND ts < ? GROUP BY ALL ORDER BY ts",
                    [start, end],
                )
            )
        total += _txn(conn, stmts, trial, key)
        setattr(state, key, end)
        if end >= until:
            return total
        start = end


def _expire(conn: Any, state: StoreState, table: str, key: str, cutoff: int) -> int:
    if cutoff <= int(getattr(state, key)):
        return 0
    trial = state.copy()
    setattr(trial, key, cutoff)
    deleted = _txn(conn, [(f"DELETE FROM {table} WHERE ts < ?", [cutoff])], trial, key)
    setattr(state, key, cutoff)
    return deleted


def run_maintenance(
    conn: Any, state: StoreState, settings: StoreSettings, now: int
) -> MaintenanceReport:
    """Rollups, retention and compaction as of ``now`` (caller holds the write lock).

    ``state`` is updated in place only after each step committed.
    """
    report = MaintenanceReport(now=now)
    # Rollups: an hour is finished once it ended `rollup_delay_s` ago; a day once all its hours
    # are rolled up.
    rolled_h = _roll(conn, state, "1m", "1h", HOUR, rollup_target_1h(settings, now))
    rolled_d = _roll(conn, state, "1h", "1d", DAY, floor_int(state.rolled_until_1h, DAY))
    report.rolled_rows = {"1h": rolled_h, "1d": rolled_d}

    cut = state.retention_cutoffs(settings, now)  # (after the rollups: they bound it)
    deleted: dict[str, int] = {}
    for tier in ("1m", "1h", "1d"):
        key = f"retained_from_{tier}"
        if key in cut:
            deleted[TABLES[tier]] = _expire(conn, state, TABLES[tier], key, cut[key])
    deleted["flows"] = _expire(
        conn, state, "flows", "retained_from_flows", cut["retained_from_flows"]
    )
    pruned = scalar(conn, "DELETE FROM flush_log WHERE written_at < ?", [now - FLUSH_LOG_KEEP_S])
    deleted["flush_log"] = int(pruned or 0)
    report.deleted_rows = deleted

    removed = sum(deleted.values())
    if removed:
        trial = state.copy()
        trial.deleted_since_compaction += removed
        _txn(conn, [], trial, "deleted_since_compaction")
        state.deleted_since_compaction = trial.deleted_since_compaction
    report.compacted = _maybe_compact(conn, state, settings.compact_threshold)
    return report


def _live_rows(conn: Any) -> int:
    total = 0
    for table in (TABLES["1m"], TABLES["1h"], TABLES["1d"], "flows"):
        total += int(scalar(conn, f"SELECT count(*) FROM {table}") or 0)
    return total


def _maybe_compact(conn: Any, state: StoreState, threshold: float) -> bool:
    """CHECKPOINT once deletions since the last one pass ``threshold`` of the live rows.

    DuckDB rewrites row groups with deletions and frees emptied blocks at a checkpoint; freed
    blocks are reused by later writes (the file does not shrink).
    """
    if not state.deleted_since_compaction:
        return False
    if state.deleted_since_compaction < threshold * max(_live_rows(conn), 1):
        return False
    try:
        scalar(conn, "CHECKPOINT")
    except duckdb.TransactionException as exc:
        # Readers still open: try again at the next run.
        log.info("store.compaction_deferred", reason=str(exc))
        return False
    trial = state.copy()
    trial.deleted_since_compaction = 0
    _txn(conn, [], trial, "deleted_since_compaction")
    state.deleted_since_compaction = 0
    return True
