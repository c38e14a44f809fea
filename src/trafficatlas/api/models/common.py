"""Pieces every data response shares: the time range, totals, errors."""

from __future__ import annotations

from pydantic import BaseModel, Field

from trafficatlas.query.models import Totals as QueryTotals

# Fields that differ between requests answered by the same cached result (spliced in).
VOLATILE_FIELDS = ("requested_since", "requested_until")


class ErrorResponse(BaseModel):
    """An error the caller can act on."""

    detail: str = Field(description="What went wrong, in one sentence.")


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
