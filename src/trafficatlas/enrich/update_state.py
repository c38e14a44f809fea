"""What `geoip update` remembers per source, and when the schedule asks for the next check.

``<download_dir>/<name>.state.json`` holds the URL, ETag/Last-Modified, sha256 and times of the
installed file: the next update sends a conditional request and skips an unchanged database.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trafficatlas.enrich.update_fetch import scratch_path
from trafficatlas.logging import get_logger
from trafficatlas.settings import Settings

SCHEDULE_PERIOD = {"weekly": timedelta(days=7), "monthly": timedelta(days=30)}


@dataclass(frozen=True)
class SourceState:
    """What was installed for one source, and how to ask the server whether it changed."""

    url: str
    etag: str | None
    last_modified: str | None
    sha256: str
    size: int
    path: Path
    installed_at: datetime
    checked_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in ``<name>.state.json``."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path)
        data["installed_at"] = self.installed_at.isoformat()
        data["checked_at"] = self.checked_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceState:
        """Parse a stored state; raises KeyError/ValueError/TypeError when malformed."""
        return cls(
            url=str(data["url"]),
            etag=data.get("etag") or None,
            last_modified=data.get("last_modified") or None,
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            path=Path(data["path"]),
            installed_at=aware(datetime.fromisoformat(data["installed_at"])),
            checked_at=aware(datetime.fromisoformat(data["checked_at"])),
        )


def state_path(directory: Path, name: str) -> Path:
    """Where the state of source ``name`` is stored."""
    return directory / f"{name}.state.json"


def load_state(directory: Path, name: str) -> SourceState | None:
    """The stored state of a source; None when absent or unreadable (the next update refetches)."""
    path = state_path(directory, name)
    try:
        return SourceState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        get_logger("geoip.update").warning("geoip.state_unreadable", path=str(path), error=str(exc))
        return None


def save_state(directory: Path, name: str, state: SourceState) -> None:
    """Store a source's state atomically."""
    tmp = scratch_path(directory, name, ".state")
    try:
        tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, state_path(directory, name))
    finally:
        tmp.unlink(missing_ok=True)


def update_due(settings: Settings, state: SourceState | None, now: datetime) -> bool:
    """Whether the update schedule asks for a check of a source with this state now."""
    period = SCHEDULE_PERIOD.get(settings.geoip.update_schedule)
    if period is None:  # manual
        return False
    if state is None or not state.path.exists():
        return True
    return aware(now) - state.checked_at >= period


def aware(when: datetime) -> datetime:
    """``when`` with a time zone; a naive datetime is taken as UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
