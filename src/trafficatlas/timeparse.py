"""Times as users write them: relative ("24h", "7d", "90m", "now"), ISO 8601, or epoch seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from trafficatlas.errors import ConfigError

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str | None, now: float | None = None) -> float | None:
    """Epoch seconds; a relative duration means that long before ``now``. None stays None.

    Raises ConfigError with a clear message for anything else.
    """
    if text is None or text == "":
        return None
    now = time.time() if now is None else now
    value = text.strip()
    if value.lower() == "now":
        return now
    m = _RELATIVE.match(value.lower())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"not a time: {text!r} (use e.g. 24h, 7d, 2026-11-01T00:00Z or epoch seconds)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
