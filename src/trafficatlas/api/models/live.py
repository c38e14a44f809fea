"""Messages of the WebSocket live feed (/api/live).

A WebSocket has no place in the OpenAPI paths, so these models are added to the schema's
components by :func:`trafficatlas.api.schema.install` (the dashboard's types come from there).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LiveBytes(BaseModel):
    """Bytes over the live window, split by direction."""

    total_bytes: int = Field(description="Bytes in every direction.")
    tx_bytes: int = Field(description="Bytes sent: outbound, local to remote.")
    rx_bytes: int = Field(description="Bytes received: inbound, remote to local.")
    flows: int = Field(description="Flows.")


class LiveTotals(LiveBytes):
    packets: int = Field(description="Packets in every direction.")


class LiveCountry(LiveBytes):
    code: str = Field(description="ISO country code ('' not geolocated).")
    name: str | None = Field(description="Country name.")


class LiveAsn(LiveBytes):
    """Traffic with one remote network in one country (an AS can span countries)."""

    asn: int = Field(description="Autonomous system number of the remote side (0 unknown).")
    organization: str | None = Field(description="The AS's organization.")
    country: str = Field(description="ISO country code ('' not geolocated).")
    country_name: str | None = Field(description="Country name.")


class LivePoint(LiveBytes):
    country: str = Field(description="ISO country code.")
    city: str = Field(description="City name.")
    latitude: float = Field(description="Latitude (WGS 84).")
    longitude: float = Field(description="Longitude (WGS 84).")
    intensity: float = Field(description="Bytes relative to the busiest point (0-1].")


class LivePeer(BaseModel):
    peer: str = Field(description="Stable peer id.")
    total_bytes: int = Field(description="Bytes of this peer.")
    tx_bytes: int = Field(description="Bytes sent to remote sides.")
    rx_bytes: int = Field(description="Bytes received from remote sides.")


class LiveMessage(BaseModel):
    """One push of /api/live: the last `window_s` seconds of traffic.

    Private peers' traffic counts in `totals` and `peers`; it is left out of the geography
    (countries, networks, places).
    """

    type: Literal["live"] = Field(description="Always `live`.")
    ts: float = Field(description="When the message was made (epoch seconds).")
    window_s: int = Field(description="Seconds of traffic summed (api.live_window_s).")
    totals: LiveTotals
    countries: list[LiveCountry] = Field(description="By remote country, most bytes first.")
    asns: list[LiveAsn] = Field(
        description="By remote AS and country, most bytes first (every group: none cut)."
    )
    points: list[LivePoint] = Field(description="Located places, most bytes first.")
    peers: list[LivePeer] = Field(description="Peers with traffic, by id.")


class LiveUnavailable(BaseModel):
    """The one message of /api/live on a node without a live view (role = api).

    The live view is the memory of a collector's pipeline; an API node has none and serves
    history from the shared store. The server sends this once, then only waits for the client
    to leave: a client should close and not reconnect.
    """

    type: Literal["unavailable"] = Field(description="Always `unavailable`.")
    role: str = Field(description="The node's role (`api`).")
    detail: str = Field(description="Why there is no live view here, in one sentence.")
