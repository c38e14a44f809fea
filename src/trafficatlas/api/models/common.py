"""Pieces every data response shares: the time range, totals, errors."""

from __future__ import annotations

from typing import Any, Literal, get_args

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
    "invalid_parameter",  # request validation refused a parameter or body field (422)
    "not_found",  # no such path, or no such resource (a peer, user, token)
    "method_not_allowed",  # the path exists, the method does not (Allow lists the methods)
    "conflict",  # the request conflicts with the current state
    "server_error",  # the server failed on its side
    "invalid",  # any other refused request
]
ERROR_CODES: tuple[str, ...] = get_args(ErrorCode)

# Fields that differ between requests answered by the same cached result (spliced in).
VOLATILE_FIELDS = ("requested_since", "requested_until")


class ErrorResponse(BaseModel):
    """An error the caller can act on."""

    detail: str = Field(description="What went wrong, in one sentence.")
    code: ErrorCode = Field(
        description="Stable reason for programs (e.g. `totp_required`: log in again with a "
        "TOTP code; `not_found`: no such path or resource)."
    )


class ValidationIssue(BaseModel):
    """One value request validation refused."""

    loc: list[str | int] = Field(
        description="Where: the source (`query`, `path`, `header`, `cookie`, `body`), then the "
        "parameter or field name and, inside lists and objects, indices and member names."
    )
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="Kind of the error (e.g. `int_parsing`, `missing`).")
    input: Any = Field(default=None, description="The value refused, when there was one.")
    ctx: dict[str, Any] | None = Field(
        default=None, description='The constraint broken (e.g. `{"ge": 1}`), when there is one.'
    )


class ValidationErrorResponse(BaseModel):
    """A request whose parameters or body failed validation (422)."""

    detail: list[ValidationIssue] = Field(description="Every refused value, in request order.")
    code: Literal["invalid_parameter"] = Field(description="Always `invalid_parameter`.")
    field: str | None = Field(
        description="Name of the first refused parameter or top-level body field (`since`, "
        "`username`); null when the body as a whole was refused."
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
