"""Pieces every data response shares: the time range, totals, errors."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

from trafficatlas.query.models import Totals as QueryTotals

# Stable reasons of error answers (see api/errors.py).
ErrorCode = Literal[
    "unauthenticated",  # no credentials, or wrong, expired or revoked ones
    "totp_required",  # user name and password were right: send them again with a TOTP code
    "forbidden",  # authenticated, but not allowed
    "throttled",  # too many attempts (Retry-After)
    "flow_detail_disabled",  # the route needs store.flow_detail.enabled
    "invalid_query",  # parameters the query cannot answer
    "weak_password",  # the password policy refused a new password
    "unavailable",  # the store or a database is not available
    "download_failed",  # a GeoIP update could not be fetched
    "invalid_config",  # a setting or configured file is wrong
    "invalid",  # any other refused request
]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)

# Fields that differ between requests answered by the same cached result (spliced in).
VOLATILE_FIELDS = ("requested_since", "requested_until")


class ErrorResponse(BaseModel):
    """An error the caller can act on."""

    detail: str = Field(description="What went wrong, in one sentence.")
    code: ErrorCode | None = Field(
        default=None,
        description="Stable reason for programs (e.g. `totp_required`: log in again with a "
        "TOTP code); absent on errors of request validation and unknown paths.",
    )


class Totals(BaseModel):
    """Sums over everything the query matched."""

    total_bytes: int = Field(description="Bytes in every direction.")
    tx_bytes: int = Field(description="Bytes sent: outbound, local to remote.")
    rx_bytes: int = Field(description="Bytes received: inbound, remote to local.")
    packets: int = Field(description="Packets in every direction.")
    flows: int = Field(description="Flows (connections) in every direction.")

    @classmethod
    def of(cls, t: QueryTotals) -> Totals:
        return cls(
            total_bytes=t.bytes,
            tx_bytes=t.bytes_sent,
            rx_bytes=t.bytes_received,
            packets=t.packets,
            flows=t.flows,
        )


class RangeResult(BaseModel):
    """The time range of a result: asked for, and actually covered."""

    requested_since: int = Field(description="Start asked for (epoch seconds).")
    requested_until: int = Field(description="End asked for (epoch seconds, exclusive).")
    since: int = Field(
        description="Start actually covered: rounded down to the stored bucket width, and "
        "never before the oldest data still kept (epoch seconds)."
    )
    until: int = Field(description="End actually covered, rounded up (epoch seconds).")


class TrafficValues(BaseModel):
    """Traffic of one row."""

    total_bytes: int = Field(description="Bytes in every direction.")
    tx_bytes: int = Field(description="Bytes sent (outbound).")
    rx_bytes: int = Field(description="Bytes received (inbound).")
    packets: int = Field(description="Packets.")
    flows: int = Field(description="Flows.")
    percent: float = Field(description="Share of all bytes in the result (0-100).")


def traffic_values(row: QueryTotals, percent: float) -> dict[str, int | float]:
    """TrafficValues fields of a query row."""
    return {
        "total_bytes": row.bytes,
        "tx_bytes": row.bytes_sent,
        "rx_bytes": row.bytes_received,
        "packets": row.packets,
        "flows": row.flows,
        "percent": round(percent, 6),
    }
