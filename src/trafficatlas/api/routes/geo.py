"""Traffic by remote country, AS, city, and the world map."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trafficatlas.api.deps import Authenticated, Ctx, scoped
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.common import Totals, traffic_values
from trafficatlas.api.models.geo import (
    AsnResponse,
    AsnRow,
    CitiesResponse,
    CityRow,
    CountriesResponse,
    CountryRow,
    MapCountry,
    MapHome,
    MapLine,
    MapPeer,
    MapPoint,
    MapResponse,
)
from trafficatlas.api.models.traffic import PeerStatus
from trafficatlas.api.params import Limit, TimeRange, filters, time_range
from trafficatlas.api.peerstate import NO_STATUS, cache_part, peer_statuses
from trafficatlas.api.querying import answer, range_fields
from trafficatlas.enrich.countries import country_flag, country_name
from trafficatlas.query import Filters, TopRow, top
from trafficatlas.settings import Settings
from trafficatlas.store import Store

router = APIRouter(prefix="/api/metrics/geo", tags=["geo"], responses=error_doc(400, 401, 403, 503))

Range = Annotated[TimeRange, Depends(time_range)]
Where = Annotated[Filters, Depends(filters)]


def country_row(row: TopRow) -> CountryRow:
    code = str(row.key.get("country", ""))
    return CountryRow(
        code=code,
        name=country_name(code) if code else None,
        flag=country_flag(code) if code else None,
        **traffic_values(row, row.percent),
    )


def countries_result(
    store: Store, f: Filters, rng: TimeRange, limit: int | None
) -> CountriesResponse:
    r = top(store, ["country"], f, limit, rng.since, rng.until)
    return CountriesResponse(
        **range_fields(r),
        limit=r.limit,
        groups=r.groups,
        rows=[country_row(x) for x in r.rows],
        other=country_row(r.other) if r.other else None,
        totals=Totals.of(r.totals),
    )


@router.get("/countries", operation_id="geo_countries", response_model=CountriesResponse)
async def countries(
    ctx: Ctx, principal: Authenticated, rng: Range, where: Where, limit: Limit = None
) -> Response:
    """Traffic by remote country: code, name, flag, sent/received/total bytes, percent."""
    f = scoped(where, principal)
    return await answer(
        ctx, "countries", rng, f, (limit,), lambda s: countries_result(s, f, rng, limit)
    )


def asn_result(store: Store, f: Filters, rng: TimeRange, limit: int | None) -> AsnResponse:
    r = top(store, ["asn"], f, limit, rng.since, rng.until)
    asns = [int(x.key["asn"]) for x in r.rows]
    home: dict[int, tuple[int, str]] = {}
    if asns:
        # the country carrying most of each AS's bytes in the same range and filters
        split = top(
            store,
            ["asn", "country"],
            f.model_copy(update={"asn": asns}),
            None,
            rng.since,
            rng.until,
        )
        for x in split.rows:
            a, c = int(x.key["asn"]), str(x.key["country"])
            if c and x.bytes > home.get(a, (-1, ""))[0]:
                home[a] = (x.bytes, c)

    def row(x: TopRow, asn: int | None) -> AsnRow:
        org = x.attrs.get("as_org")
        return AsnRow(
            asn=asn or 0,
            organization=str(org) if org else None,
            country=home[asn][1] if asn in home else None,
            **traffic_values(x, x.percent),
        )

    return AsnResponse(
        **range_fields(r),
        limit=r.limit,
        groups=r.groups,
        rows=[row(x, int(x.key["asn"])) for x in r.rows],
        other=row(r.other, None) if r.other else None,
        totals=Totals.of(r.totals),
    )


@router.get("/asn", operation_id="geo_asn", response_model=AsnResponse)
async def asn(
    ctx: Ctx, principal: Authenticated, rng: Range, where: Where, limit: Limit = None
) -> Response:
    """Traffic by remote autonomous system: number, organization, main country, bytes."""
    f = scoped(where, principal)
    return await answer(ctx, "asn", rng, f, (limit,), lambda s: asn_result(s, f, rng, limit))


def city_row(row: TopRow) -> CityRow:
    code = str(row.key.get("country", ""))
    lat, lon = row.attrs.get("lat"), row.attrs.get("lon")
    return CityRow(
        country=code,
        country_name=country_name(code) if code else None,
        city=str(row.key.get("city", "")),
        latitude=float(lat) if lat is not None else None,
        longitude=float(lon) if lon is not None else None,
        **traffic_values(row, row.percent),
    )


def cities_result(store: Store, f: Filters, rng: TimeRange, limit: int | None) -> CitiesResponse:
    r = top(store, ["city"], f, limit, rng.since, rng.until)
    other = None
    if r.other:
        other = CityRow(
            country="",
            country_name=None,
            city="",
            latitude=None,
            longitude=None,
            **traffic_values(r.other, r.other.percent),
        )
    return CitiesResponse(
        **range_fields(r),
        limit=r.limit,
        groups=r.groups,
        rows=[city_row(x) for x in r.rows],
        other=other,
        totals=Totals.of(r.totals),
    )


@router.get("/cities", operation_id="geo_cities", response_model=CitiesResponse)
async def cities(
    ctx: Ctx, principal: Authenticated, rng: Range, where: Where, limit: Limit = None
) -> Response:
    """Traffic by remote city, with coordinates when the databases have them."""
    f = scoped(where, principal)
    return await answer(ctx, "cities", rng, f, (limit,), lambda s: cities_result(s, f, rng, limit))


def map_peer(x: TopRow, status: PeerStatus) -> MapPeer:
    """A peer with traffic, placed at its endpoint when that is located."""
    e = status.endpoint
    return MapPeer(
        id=str(x.key["peer"]),
        name=str(x.attrs["peer_name"]) if x.attrs.get("peer_name") else None,
        total_bytes=x.bytes,
        country=e.country if e else None,
        latitude=e.latitude if e else None,
        longitude=e.longitude if e else None,
    )


def map_result(
    store: Store,
    settings: Settings,
    f: Filters,
    rng: TimeRange,
    lines: int,
    statuses: dict[str, PeerStatus],
) -> MapResponse:
    a = settings.api
    home = None
    if a.home_latitude is not None and a.home_longitude is not None:
        home = MapHome(latitude=a.home_latitude, longitude=a.home_longitude)
    by_city = top(store, ["city"], f, None, rng.since, rng.until)
    points = [
        (x, float(x.attrs["lat"]), float(x.attrs["lon"]))  # type: ignore[arg-type]
        for x in by_city.rows
        if x.attrs.get("lat") is not None and x.attrs.get("lon") is not None
    ]
    top_point = max((x.bytes for x, _, _ in points), default=0) or 1
    located = sum(x.bytes for x, _, _ in points)
    by_country = top(store, ["country"], f, None, rng.since, rng.until)
    geo_countries = [x for x in by_country.rows if x.key.get("country")]
    top_country = max((x.bytes for x in geo_countries), default=0) or 1
    by_peer = top(store, ["peer"], f, None, rng.since, rng.until)
    pairs = top(store, ["peer", "city"], f, None, rng.since, rng.until)
    line_rows = [x for x in pairs.rows if x.attrs.get("lat") is not None][:lines]
    top_line = max((x.bytes for x in line_rows), default=0) or 1
    return MapResponse(
        **range_fields(by_city),
        home=home,
        points=[
            MapPoint(
                country=str(x.key["country"]),
                city=str(x.key["city"]),
                latitude=lat,
                longitude=lon,
                total_bytes=x.bytes,
                flows=x.flows,
                intensity=x.bytes / top_point,
            )
            for x, lat, lon in points
        ],
        countries=[
            MapCountry(
                code=str(x.key["country"]),
                name=country_name(str(x.key["country"])),
                total_bytes=x.bytes,
                flows=x.flows,
                intensity=x.bytes / top_country,
            )
            for x in geo_countries
        ],
        peers=[
            map_peer(x, statuses.get(str(x.key["peer"]), NO_STATUS))
            for x in by_peer.rows
            if x.key.get("peer")
        ],
        lines=[
            MapLine(
                peer=str(x.key["peer"]),
                peer_name=str(x.attrs["peer_name"]) if x.attrs.get("peer_name") else None,
                country=str(x.key["country"]),
                city=str(x.key["city"]),
                from_latitude=home.latitude if home else None,
                from_longitude=home.longitude if home else None,
                to_latitude=float(x.attrs["lat"]),  # type: ignore[arg-type]
                to_longitude=float(x.attrs["lon"]),  # type: ignore[arg-type]
                total_bytes=x.bytes,
                intensity=x.bytes / top_line,
            )
            for x in line_rows
        ],
        unlocated_bytes=by_city.totals.bytes - located,
        totals=Totals.of(by_city.totals),
    )


@router.get("/map", operation_id="geo_map", response_model=MapResponse)
async def world_map(
    ctx: Ctx,
    principal: Authenticated,
    rng: Range,
    where: Where,
    lines: Annotated[
        int, Query(ge=0, le=10_000, description="Top peer-to-city flows returned as lines.")
    ] = 50,
) -> Response:
    """Points with coordinates and intensity, country aggregates, peers (at their endpoints'
    locations when known), and top flows."""
    f = scoped(where, principal)
    settings = ctx.settings
    statuses = await run_in_threadpool(peer_statuses, ctx)
    return await answer(
        ctx,
        "map",
        rng,
        f,
        (lines, cache_part(statuses)),
        lambda s: map_result(s, settings, f, rng, lines, statuses),
    )
