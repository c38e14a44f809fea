"""StoreSettings: defaults, durations, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from trafficatlas.store import StoreSettings

DAY = 86_400


def test_defaults() -> None:
    s = StoreSettings()
    assert s.interval_s == 60
    assert (s.retention_1m, s.retention_1h, s.retention_1d) == (7 * DAY, 90 * DAY, None)
    assert not s.flow_detail.enabled and s.flow_detail.retention == 7 * DAY
    assert s.resolved_path(Path("/d")) == Path("/d/trafficatlas.duckdb")
    assert s.resolved_metadata_path(Path("/d")) == Path("/d/metadata.sqlite3")
    assert StoreSettings(path=Path("/x/s.duckdb")).resolved_path(Path("/d")) == Path("/x/s.duckdb")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("14d", 14 * DAY), ("2w", 14 * DAY), (7200, 7200)],
)
def test_durations(text: object, seconds: int) -> None:
    assert StoreSettings(rollup_delay_s=text).rollup_delay_s == seconds


def test_forever_and_bad_values() -> None:
    assert StoreSettings(retention_1d="forever").retention_1d is None
    assert StoreSettings(retention_1d="400d").retention_1d == 400 * DAY
    for bad in (
        {"retention_1m": "7 parsecs"},
        {"retention_1m": True},
        {"interval_s": 7},  # does not divide an hour
        {"interval_s": 7200},
        {"retention_1m": "30d", "retention_1h": "7d"},  # coarser tier kept shorter
        {"retention_1d": "30d"},
        {"retention_1m": "10m"},  # shorter than the rollup needs
        {"compact_threshold": 0},
        {"unknown_key": 1},
    ):
        with pytest.raises(ValidationError):
            StoreSettings(**bad)  # type: ignore[arg-type]
