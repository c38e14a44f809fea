"""StoreSettings: where the store lives, its interval, and how long each tier keeps data.

Durations accept seconds (int) or text such as ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"``;
a tier kept forever takes ``"forever"`` (or ``None``). Light module on purpose (no DuckDB import) so
the main Settings model can embed it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

DAY = 86_400
HOUR = 3_600
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY}
_DURATION = re.compile(r"\s*(\d+)\s*([smhdw]?)\s*")


def parse_duration(value: Any) -> int:
    """Seconds from an int or a text duration ("7d"); raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '7d'")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _DURATION.fullmatch(value.lower())
        if m:
            return int(m.group(1)) * _UNITS[m.group(2) or "s"]
    raise ValueError(f"not a duration: {value!r} (use seconds or text like '90s', '12h', '7d')")


def parse_optional_duration(value: Any) -> int | None:
    """Like :func:`parse_duration`; None, "forever" and "never" mean no limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"forever", "never"}):
        return None
    return parse_duration(value)


Duration = Annotated[int, BeforeValidator(parse_duration)]
OptionalDuration = Annotated[int | None, BeforeValidator(parse_optional_duration)]


class _Section(BaseModel):
    # Same contract as trafficatlas.settings.Section: unknown keys are errors.
    model_config = ConfigDict(extra="forbid")


class FlowDetailSettings(_Section):
    """Raw flow records (with addresses) for drill-down: off unless the user opts in."""

    enabled: bool = False
    retention: Duration = Field(default=7 * DAY, ge=HOUR)


class ClickHouseSettings(_Section):
    """A ClickHouse server (or cluster) shared by collectors and API nodes (engine="clickhouse")."""

    host: str = "127.0.0.1"
    # Native protocol port (not the HTTP port).
    port: int = Field(default=9000, ge=1, le=65535)
    database: str = Field(default="trafficatlas", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    user: str = "default"
    # Prefer the TRAFFICATLAS_STORE__CLICKHOUSE__PASSWORD environment variable to the file.
    password: str = ""
    secure: bool = False
    # When set, DDL runs ON CLUSTER and queries read Distributed tables over the shards.
    cluster: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    send_receive_timeout_s: float = Field(default=60.0, gt=0)
    # This node's id, stored with every row it writes (default: the host name).
    node_id: str | None = None


class SpoolSettings(_Section):
    """Batches a collector keeps on disk while the store is unreachable, replayed in order."""

    # Default: <data_dir>/spool.
    path: Path | None = None
    # Oldest batches are dropped (and counted) beyond this size.
    max_bytes: int = Field(default=1 << 30, ge=1 << 20)
    # How often the store is retried while batches wait.
    retry_s: float = Field(default=5.0, gt=0)


class StoreSettings(_Section):
    """Where traffic is kept: the embedded DuckDB file (default) or a ClickHouse server."""

    # "duckdb": one file owned by this process; "clickhouse": a server shared by many nodes.
    engine: Literal["duckdb", "clickhouse"] = "duckdb"
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    # Default: <data_dir>/trafficatlas.duckdb. One process owns the file while it is open.
    path: Path | None = None
    # Peers and user-edited settings; default: <data_dir>/metadata.sqlite3.
    metadata_path: Path | None = None
    # Width of the finest tier's buckets (the aggregator's interval); must divide one hour.
    interval_s: int = Field(default=60, ge=1, le=HOUR)
    # How long each tier keeps rows; the finest tier ("1m") holds interval buckets.
    retention_1m: Duration = Field(default=7 * DAY, ge=2 * HOUR)
    retention_1h: Duration = Field(default=90 * DAY, ge=2 * DAY)
    retention_1d: OptionalDuration = None
    flow_detail: FlowDetailSettings = Field(default_factory=FlowDetailSettings)
    # A finished hour is rolled up this long after its end (late rows after that are merged
    # into the rolled-up tiers directly, so totals stay exact either way).
    rollup_delay_s: Duration = Field(default=120, ge=0)
    # CHECKPOINT (which reclaims deleted row groups) once rows deleted by retention since the
    # last one exceed this fraction of the rows still stored.
    compact_threshold: float = Field(default=0.25, gt=0.0, le=1.0)
    # DuckDB resources; None keeps DuckDB's defaults (all cores, 80% of memory).
    memory_limit: str | None = None
    threads: int | None = Field(default=None, ge=1)

    @field_validator("interval_s")
    @classmethod
    def _divides_hour(cls, value: int) -> int:
        if HOUR % value:
            raise ValueError(f"interval_s must divide 3600 evenly (got {value})")
        return value

    @model_validator(mode="after")
    def _tiers_ordered(self) -> StoreSettings:
        if self.retention_1h < self.retention_1m:
            raise ValueError("retention_1h must be at least retention_1m")
        if self.retention_1d is not None and self.retention_1d < self.retention_1h:
            raise ValueError("retention_1d must be at least retention_1h (or 'forever')")
        return self

    def resolved_path(self, data_dir: Path) -> Path:
        """The DuckDB file: ``path`` or ``<data_dir>/trafficatlas.duckdb``."""
        return self.path or data_dir / "trafficatlas.duckdb"

    def resolved_metadata_path(self, data_dir: Path) -> Path:
        """The SQLite metadata file: ``metadata_path`` or ``<data_dir>/metadata.sqlite3``."""
        return self.metadata_path or data_dir / "metadata.sqlite3"
