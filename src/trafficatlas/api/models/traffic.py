"""Peers, time series, drill-down and exports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from trafficatlas.api.models.common import RangeResult, Totals, TrafficValues

KeyValue = str | int
AttrValue = str | float | int | None


class PeerEndpoint(BaseModel):
    """Where a peer connects from (its WireGuard endpoint), located by the GeoIP databases."""

    address: str | None = Field(
        description="The endpoint's IP address: only when flow detail is on "
        "(store.flow_detail.enabled), else None."
    )
    country: str | None = Field(description="ISO country code (None when not geolocated).")
    country_name: str | None = Field(description="Country name.")
    city: str | None = Field(description="City, when the databases know it.")
    latitude: float | None = Field(description="Latitude (WGS 84), when known.")
    longitude: float | None = Field(description="Longitude (WGS 84), when known.")
    asn: int | None = Field(description="Autonomous system of the endpoint address.")
    organization: str | None = Field(description="The AS's organization.")


class PeerStatus(BaseModel):
    """A peer's current state as its source reports it (WireGuard)."""

    last_handshake: float | None = Field(
        description="Latest completed handshake (epoch seconds); None when there was none or "
        "the peer is not a WireGuard peer."
    )
    endpoint: PeerEndpoint | None = Field(
        description="Where the peer connects from; None when unknown, and always for private "
        "peers (their endpoint is never geolocated)."
    )


class PeerRow(TrafficValues, PeerStatus):
    id: str = Field(description="Stable peer id (what traffic rows carry; renames keep it).")
    name: str | None = Field(description="Display name.")
    private: bool = Field(description="Opted out: its traffic counts, its geography is not kept.")


class PeersResponse(RangeResult):
    """Peers with their traffic in the range (peers without traffic have zeros)."""

    rows: list[PeerRow] = Field(description="Peers, most bytes first.")
    totals: Totals


class PeerInfo(BaseModel):
    id: str = Field(description="Stable peer id.")
    name: str = Field(description="Display name.")
    private: bool = Field(description="Whether the peer's geography is kept out of the store.")
    created_at: float = Field(description="First seen (epoch seconds).")
    updated_at: float = Field(description="Last changed (epoch seconds).")


class PeerUpdate(BaseModel):
    """Peer settings to change (fields left out keep their value)."""

    name: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")
    private: bool | None = Field(default=None, description="Opt out of (or back into) geography.")
    scrub_history: bool = Field(
        default=True,
        description="When turning private on: also blank the geography already stored.",
    )


class PeerUpdateResult(BaseModel):
    peer: PeerInfo
    scrubbed_rows: int = Field(description="Stored rows whose geography was blanked.")


class PeerGeoResponse(RangeResult, PeerStatus):
    """One peer's traffic by remote country, with its last handshake and endpoint."""

    peer: PeerInfo
    rows: list[PeerCountry] = Field(description="Countries, most bytes first.")
    totals: Totals


class PeerCountry(TrafficValues):
    code: str = Field(description="ISO country code ('' not geolocated or private peer).")
    name: str | None = Field(description="Country name.")


class Series(BaseModel):
    rank: int = Field(description="1-based by total bytes; 0 for `other`.")
    key: dict[str, KeyValue] = Field(description="Values of the `by` dimensions.")
    attrs: dict[str, AttrValue] = Field(description="Display attributes (names, coordinates).")
    totals: Totals
    total_bytes: list[int] = Field(description="Bytes per step, aligned with `timestamps`.")
    tx_bytes: list[int] = Field(description="Bytes sent per step.")
    rx_bytes: list[int] = Field(description="Bytes received per step.")
    packets: list[int] = Field(description="Packets per step.")
    flows: list[int] = Field(description="Flows per step.")


class TimeseriesResponse(RangeResult):
    """Traffic per step, one series per key of `by` (every step present, zero-filled)."""

    by: list[str] = Field(description="Dimensions the series are split by.")
    step: int = Field(description="Seconds per point.")
    timestamps: list[int] = Field(description="Start of each step (epoch seconds).")
    limit: int | None = Field(description="Series asked for; the rest is summed in `other`.")
    groups: int = Field(description="Distinct keys in the range.")
    series: list[Series] = Field(description="One per key, by rank.")
    other: Series | None = Field(description="The series beyond `limit`, summed.")
    totals: Totals


class FlowRow(TrafficValues):
    key: dict[str, KeyValue] = Field(description="Values of the `by` dimensions.")


class FlowsResponse(RangeResult):
    """Drill-down into raw flow records (needs store.flow_detail.enabled)."""

    by: list[str] = Field(description="Dimensions the rows are grouped by.")
    limit: int | None = Field(description="Rows asked for; the rest is summed in `other`.")
    groups: int = Field(description="Distinct keys in the range.")
    rows: list[FlowRow] = Field(description="Groups, most bytes first.")
    other: FlowRow | None = Field(description="The rows beyond `limit`, summed.")
    totals: Totals


ExportBy = Literal["country", "asn", "city", "peer"]
ExportFormat = Literal["csv", "json"]


class ExportRow(BaseModel):
    """One row of an export; key fields not of the chosen dimension are None."""

    country: str | None = Field(default=None, description="ISO country code.")
    name: str | None = Field(default=None, description="Country or peer name.")
    asn: int | None = Field(default=None, description="AS number.")
    organization: str | None = Field(default=None, description="AS organization.")
    city: str | None = Field(default=None, description="City.")
    latitude: float | None = Field(default=None, description="City latitude.")
    longitude: float | None = Field(default=None, description="City longitude.")
    peer: str | None = Field(default=None, description="Peer id.")
    sent: int = Field(description="Bytes sent (outbound).")
    received: int = Field(description="Bytes received (inbound).")
    total: int = Field(description="Bytes in every direction.")
    packets: int = Field(description="Packets.")
    flows: int = Field(description="Flows.")
    percent: float = Field(description="Share of all bytes (0-100).")


class SourceDatabase(BaseModel):
    name: str = Field(description="Database name.")
    build_date: str | None = Field(description="Build date (YYYY-MM-DD).")
    license: str = Field(description="License of the data.")


class ExportMetadata(BaseModel):
    by: ExportBy = Field(description="Dimension of the rows.")
    requested_since: int = Field(description="Start asked for (epoch seconds).")
    requested_until: int = Field(description="End asked for (epoch seconds).")
    since: str = Field(description="Start covered (ISO 8601, UTC).")
    until: str = Field(description="End covered (ISO 8601, UTC).")
    generated_at: str = Field(description="When the export was made (ISO 8601, UTC).")
    filters: dict[str, list[str | int]] = Field(description="Filters applied.")
    source_databases: list[SourceDatabase] = Field(description="GeoIP/ASN data used.")
    attribution: str = Field(description="Attribution the data's licenses require.")
    rows: int = Field(description="Rows in the export (every group: exports are never cut).")
    totals: Totals


class ExportResponse(BaseModel):
    """A JSON export: metadata and every row."""

    metadata: ExportMetadata
    rows: list[ExportRow] = Field(description="Every group, most bytes first.")


PeerGeoResponse.model_rebuild()
