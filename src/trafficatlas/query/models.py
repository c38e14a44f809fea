"""Query inputs and results (pydantic: the API serves them as they are, the CLI prints them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trafficatlas.flowbatch import Direction

Metric = Literal["bytes", "packets", "flows"]
KeyValue = str | int
AttrValue = str | float | int | None


class Filters(BaseModel):
    """Dimension filters: values of one field are alternatives (IN), fields all apply (AND).

    The time range is not a filter here: every query takes ``since``/``until`` beside it, so a
    saved set of filters applies to any range.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    peer: list[str] = Field(default_factory=list)
    direction: list[Direction] = Field(default_factory=list)
    interface: list[str] = Field(default_factory=list)
    exporter: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)
    ip_version: list[Literal[4, 6]] = Field(default_factory=list)
    proto: list[int] = Field(default_factory=list)
    country: list[str] = Field(default_factory=list)
    asn: list[int] = Field(default_factory=list)
    label: list[str] = Field(default_factory=list)

    @field_validator("direction", mode="before")
    @classmethod
    def _direction_names(cls, value: Any) -> Any:
        # Accept names ("outbound", "sent") as well as the numbers.
        aliases = {"sent": "OUTBOUND", "received": "INBOUND"}
        if isinstance(value, str | int):
            value = [value]
        out = []
        for v in value:
            if isinstance(v, str) and not v.isdigit():
                name = aliases.get(v.lower(), v.upper())
                if name not in Direction.__members__:
                    raise ValueError(f"unknown direction {v!r}")
                out.append(Direction[name])
            else:
                out.append(v)
        return out

    @field_validator("country")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [v.upper() for v in value]

    @field_validator("proto")
    @classmethod
    def _proto(cls, value: list[int]) -> list[int]:
        for v in value:
            if not 0 <= v <= 255:
                raise ValueError(f"protocol number out of range: {v}")
        return value

    @field_validator("asn")
    @classmethod
    def _asn(cls, value: list[int]) -> list[int]:
        for v in value:
            if not 0 <= v < 2**32:
                raise ValueError(f"AS number out of range: {v}")
        return value

    def conditions(self) -> list[tuple[str, list[Any]]]:
        """(column, allowed values) for every field that is set."""
        out: list[tuple[str, list[Any]]] = []
        for name in type(self).model_fields:
            values = getattr(self, name)
            if values:
                out.append((name, [int(v) if isinstance(v, int) else v for v in values]))
        return out


class Totals(BaseModel):
    bytes: int = 0
    packets: int = 0
    flows: int = 0
    bytes_sent: int = 0  # direction outbound (local → remote)
    bytes_received: int = 0  # direction inbound (remote → local)


class SegmentInfo(BaseModel):
    """Which tier answered which part of the range."""

    tier: str
    start: int
    end: int


class TopRow(Totals):
    rank: int  # 1-based; 0 for the "other" row
    key: dict[str, KeyValue] = Field(default_factory=dict)
    attrs: dict[str, AttrValue] = Field(default_factory=dict)
    percent: float = 0.0  # share of the ordering metric
    cumulative_percent: float = 0.0


class TopResult(BaseModel):
    by: list[str]
    order_by: Metric
    since: int  # range actually covered (buckets overlapping the requested range)
    until: int
    requested_since: int
    requested_until: int
    limit: int | None  # rows beyond it are summed in `other`
    groups: int  # distinct keys in the whole range
    rows: list[TopRow]
    other: TopRow | None  # the groups beyond `limit`, summed; None when there are none
    other_groups: int = 0
    totals: Totals
    segments: list[SegmentInfo] = Field(default_factory=list)


class Series(BaseModel):
    rank: int  # 1-based by total of the ordering metric; 0 for "other"
    key: dict[str, KeyValue] = Field(default_factory=dict)
    attrs: dict[str, AttrValue] = Field(default_factory=dict)
    totals: Totals
    bytes: list[int]
    packets: list[int]
    flows: list[int]
    bytes_sent: list[int]
    bytes_received: list[int]


class TimeseriesResult(BaseModel):
    by: list[str]
    order_by: Metric
    since: int
    until: int
    requested_since: int
    requested_until: int
    step: int
    timestamps: list[int]  # bucket starts; every bucket is present (zero-filled)
    limit: int | None
    groups: int
    series: list[Series]
    other: Series | None
    totals: Totals
    segments: list[SegmentInfo] = Field(default_factory=list)
