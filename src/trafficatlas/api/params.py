"""Query parameters every data route shares: the time range and the query layer's filters.

Bad values answer 422 in FastAPI's validation-error shape (so clients and the OpenAPI schema see
one error format), never 500.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from trafficatlas.errors import ConfigError
from trafficatlas.query import Filters
from trafficatlas.timeparse import parse_time

MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z

DirectionName = Literal["outbound", "inbound", "internal", "unknown", "sent", "received"]
# Filter values are ids, names of interfaces and exporters, labels: printable ASCII, bounded,
# and at most MAX_VALUES per parameter, so a request line stays a few kilobytes.
Text = Annotated[str, Field(max_length=100, pattern=r"^[ -~]*$")]
MAX_VALUES = 50
CountryCode = Annotated[str, Field(pattern=r"^([A-Za-z]{2})?$")]
Proto = Annotated[int, Field(ge=0, le=255)]
Asn = Annotated[int, Field(ge=0, le=4_294_967_295)]
IpVersion = Annotated[int, Field(ge=4, le=6)]

SINCE_HELP = "Start: relative (24h, 7d, 90m, 2w), ISO 8601 (2026-11-01T00:00Z) or epoch seconds."
UNTIL_HELP = "End (exclusive), same forms as since; default now."


def invalid(name: str, message: str, value: Any) -> RequestValidationError:
    """A 422 for one query parameter."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", name), "msg": message, "input": value}]
    )


@dataclass(frozen=True, slots=True)
class TimeRange:
    since: float
    until: float

    @property
    def requested(self) -> dict[str, int]:
        """The bounds as the query layer reports them (epoch seconds, rounded down)."""
        return {"requested_since": int(self.since // 1), "requested_until": int(self.until // 1)}


def _time(name: str, text: str, now: float) -> float:
    try:
        value = parse_time(text, now)
    except ConfigError as exc:
        raise invalid(name, str(exc), text) from None
    if value is None or not math.isfinite(value) or value > MAX_EPOCH:
        raise invalid(name, f"not a usable time: {text!r}", text)
    return max(value, 0.0)


async def time_range(
    since: Annotated[str, Query(max_length=64, description=SINCE_HELP)] = "24h",
    until: Annotated[str | None, Query(max_length=64, description=UNTIL_HELP)] = None,
) -> TimeRange:
    """The range [since, until) in epoch seconds (422 when unreadable or empty)."""
    now = time.time()
    start = _time("since", since, now)
    end = _time("until", until, now) if until else now
    if int(end // 1) <= int(start // 1):
        raise invalid("until", "'until' must be later than 'since'", until)
    return TimeRange(start, end)


async def filters(
    peer: Annotated[
        list[Text] | None, Query(max_length=MAX_VALUES, description="Only these peer ids.")
    ] = None,
    direction: Annotated[
        list[DirectionName] | None,
        Query(max_length=MAX_VALUES, description="Only these directions."),
    ] = None,
    interface: Annotated[
        list[Text] | None, Query(max_length=MAX_VALUES, description="Only these interfaces.")
    ] = None,
    exporter: Annotated[
        list[Text] | None, Query(max_length=MAX_VALUES, description="Only these exporters.")
    ] = None,
    source: Annotated[
        list[Text] | None, Query(max_length=MAX_VALUES, description="Only these sources.")
    ] = None,
    ip_version: Annotated[
        list[IpVersion] | None, Query(max_length=2, description="4 or 6.")
    ] = None,
    proto: Annotated[
        list[Proto] | None, Query(max_length=MAX_VALUES, description="IP protocol numbers.")
    ] = None,
    country: Annotated[
        list[CountryCode] | None,
        Query(max_length=300, description="ISO country codes ('' not geolocated)."),
    ] = None,
    asn: Annotated[
        list[Asn] | None, Query(max_length=MAX_VALUES, description="AS numbers (0 unknown).")
    ] = None,
    label: Annotated[
        list[Text] | None, Query(max_length=MAX_VALUES, description="Labels (PRIVATE, LOCAL...).")
    ] = None,
) -> Filters:
    """The query layer's filters: values of one parameter are alternatives, parameters all apply."""
    if ip_version and any(v not in (4, 6) for v in ip_version):
        raise invalid("ip_version", "ip_version must be 4 or 6", ip_version)
    try:
        return Filters(
            peer=peer or [],
            direction=direction or [],
            interface=interface or [],
            exporter=exporter or [],
            source=source or [],
            ip_version=ip_version or [],
            proto=proto or [],
            country=country or [],
            asn=asn or [],
            label=label or [],
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise invalid(str(first["loc"][0]), first["msg"], first.get("input")) from None


Limit = Annotated[
    int | None,
    Query(ge=1, le=1_000_000, description="Rows to return; the rest is summed in `other`."),
]
