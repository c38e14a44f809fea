"""StoreState: the watermarks that say which tier holds which span exactly.

Invariants kept by the write path and the maintenance job (both under the store's write lock):

- ``rolled_until_1h``/``rolled_until_1d``: every finished bucket below the watermark has been
  rolled into that tier; rows arriving late for such a bucket are merged into the tier directly.
- ``retained_from_<tier>``: retention removed everything earlier. Retention never passes the
  next tier's watermark (``retained_from_1m <= rolled_until_1h``, ``retained_from_1h <=
  rolled_until_1d``), so every second is held exactly by at least one tier.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trafficatlas.store.protocol import Coverage, TierSpan
from trafficatlas.store.schema import STATE_KEYS
from trafficatlas.store.settings import StoreSettings

HOUR = 3_600
DAY = 86_400


def floor_int(value: int, width: int) -> int:
    """Start of the ``width``-wide bucket holding ``value``."""
    return value - value % width


def rollup_target_1h(settings: StoreSettings, now: int) -> int:
    """Hours before this are finished: an hour is rolled up once it ended ``rollup_delay_s``
    ago. (Days follow the hours: ``floor_int(rolled_until_1h, DAY)``.)"""
    return floor_int(now - settings.rollup_delay_s, HOUR)


@dataclass(slots=True)
class StoreState:
    interval_s: int
    rolled_until_1h: int = 0
    rolled_until_1d: int = 0
    retained_from_1m: int = 0
    retained_from_1h: int = 0
    retained_from_1d: int = 0
    retained_from_flows: int = 0
    deleted_since_compaction: int = 0

    @classmethod
    def load(cls, conn: Any) -> StoreState | None:
        """State read from ``store_state``; None for a store never initialized."""
        rows = dict(conn.execute("SELECT key, value FROM store_state").fetchall())
        if "interval_s" not in rows:
            return None
        return cls(**{k: int(v) for k, v in rows.items() if k in STATE_KEYS})

    def save(self, conn: Any, *keys: str) -> None:
        """Write the given keys (all when none given) inside the caller's transaction."""
        values = asdict(self)
        for key in keys or STATE_KEYS:
            conn.execute("INSERT OR REPLACE INTO store_state VALUES (?, ?)", [key, values[key]])

    def coverage(self, flow_detail: bool) -> Coverage:
        """Tier spans implied by the watermarks."""
        return Coverage(
            tiers=(
                TierSpan("1m", self.interval_s, self.retained_from_1m, None),
                TierSpan("1h", HOUR, self.retained_from_1h, self.rolled_until_1h),
                TierSpan("1d", DAY, self.retained_from_1d, self.rolled_until_1d),
            ),
            flows_start=self.retained_from_flows if flow_detail else None,
        )

    def retention_cutoffs(self, settings: StoreSettings, now: int) -> dict[str, int]:
        """Where each table's retained span may start as of ``now``, by watermark name.

        Retention never passes the next tier's watermark, so nothing is lost before its rollup;
        the 1d tier has no cutoff when it is kept forever.
        """
        out = {
            "retained_from_1m": min(
                floor_int(now - settings.retention_1m, HOUR), self.rolled_until_1h
            ),
            "retained_from_1h": min(
                floor_int(now - settings.retention_1h, DAY), self.rolled_until_1d
            ),
            "retained_from_flows": now - settings.flow_detail.retention,
        }
        if settings.retention_1d is not None:
            out["retained_from_1d"] = floor_int(now - settings.retention_1d, DAY)
        return out

    def copy(self) -> StoreState:
        return StoreState(**asdict(self))
