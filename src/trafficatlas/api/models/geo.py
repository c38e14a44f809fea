"""Countries, ASNs, cities and the map."""

from __future__ import annotations

from pydantic import BaseModel, Field

from trafficatlas.api.models.common import RangeResult, Totals, TrafficValues


class CountryRow(TrafficValues):
    code: str = Field(description="ISO 3166 code of the remote country; '' when not geolocated.")
    name: str | None = Field(description="Country name (None when not geolocated).")
    flag: str | None = Field(description="Flag emoji.")


class CountriesResponse(RangeResult):
    """Traffic by remote country, largest first."""

    limit: int | None = Field(description="Rows asked for; the rest is summed in `other`.")
    groups: int = Field(description="Distinct countries in the range.")
    rows: list[CountryRow] = Field(description="Countries, most bytes first.")
    other: CountryRow | None = Field(description="The countries beyond `limit`, summed.")
    totals: Totals


class AsnRow(TrafficValues):
    asn: int = Field(description="Autonomous system number of the remote side (0 unknown).")
    organization: str | None = Field(description="The AS's organization.")
    country: str | None = Field(description="Country with most of this AS's bytes in the range.")


class AsnResponse(RangeResult):
    """Traffic by remote autonomous system, largest first."""

    limit: int | None = Field(description="Rows asked for; the rest is summed in `other`.")
    groups: int = Field(description="Distinct ASNs in the range.")
    rows: list[AsnRow] = Field(description="ASNs, most bytes first.")
    other: AsnRow | None = Field(description="The ASNs beyond `limit`, summed.")
    totals: Totals


class CityRow(TrafficValues):
    country: str = Field(description="ISO code of the city's country ('' not geolocated).")
    country_name: str | None = Field(description="Country name.")
    city: str = Field(description="City name ('' when the databases know no city).")
    latitude: float | None = Field(description="Latitude of the city (WGS 84).")
    longitude: float | None = Field(description="Longitude of the city (WGS 84).")


class CitiesResponse(RangeResult):
    """Traffic by remote city, largest first."""

    limit: int | None = Field(description="Rows asked for; the rest is summed in `other`.")
    groups: int = Field(description="Distinct (country, city) pairs in the range.")
    rows: list[CityRow] = Field(description="Cities, most bytes first.")
    other: CityRow | None = Field(description="The cities beyond `limit`, summed.")
    totals: Totals


class MapPoint(BaseModel):
    country: str = Field(description="ISO country code.")
    city: str = Field(description="City name.")
    latitude: float = Field(description="Latitude (WGS 84).")
    longitude: float = Field(description="Longitude (WGS 84).")
    total_bytes: int = Field(description="Bytes to and from this place.")
    flows: int = Field(description="Flows to and from this place.")
    intensity: float = Field(description="Bytes relative to the busiest point (0-1].")


class MapCountry(BaseModel):
    code: str = Field(description="ISO country code.")
    name: str | None = Field(description="Country name.")
    total_bytes: int = Field(description="Bytes to and from the country.")
    flows: int = Field(description="Flows to and from the country.")
    intensity: float = Field(description="Bytes relative to the busiest country (0-1].")


class MapPeer(BaseModel):
    id: str = Field(description="Stable peer id.")
    name: str | None = Field(description="Peer name.")
    total_bytes: int = Field(description="Bytes of this peer in the range.")
    country: str | None = Field(
        description="Country of the peer's endpoint, when known (never for private peers)."
    )
    latitude: float | None = Field(description="Where the peer's endpoint is, when known.")
    longitude: float | None = Field(description="Where the peer's endpoint is, when known.")


class MapLine(BaseModel):
    peer: str = Field(description="Peer id ('' for traffic of no peer).")
    peer_name: str | None = Field(description="Peer name.")
    country: str = Field(description="Destination country.")
    city: str = Field(description="Destination city.")
    from_latitude: float | None = Field(description="Start: the peer's location, else home.")
    from_longitude: float | None = Field(description="Start: the peer's location, else home.")
    to_latitude: float = Field(description="Destination latitude.")
    to_longitude: float = Field(description="Destination longitude.")
    total_bytes: int = Field(description="Bytes between the peer and the destination.")
    intensity: float = Field(description="Bytes relative to the busiest line (0-1].")


class MapHome(BaseModel):
    latitude: float = Field(description="Latitude of this site (api.home_latitude).")
    longitude: float = Field(description="Longitude of this site (api.home_longitude).")


class MapResponse(RangeResult):
    """Everything the world map draws: places, countries, peers and top flows as lines."""

    home: MapHome | None = Field(description="This site's location, when configured.")
    points: list[MapPoint] = Field(description="Destination cities with coordinates.")
    countries: list[MapCountry] = Field(description="Destination aggregates per country.")
    peers: list[MapPeer] = Field(description="Peers with traffic in the range.")
    lines: list[MapLine] = Field(description="Top peer-to-city flows, for animated lines.")
    unlocated_bytes: int = Field(description="Bytes whose remote side has no coordinates.")
    totals: Totals
