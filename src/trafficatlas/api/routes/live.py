"""WebSocket /api/live: the live view (last seconds of traffic) pushed every interval.

Each message is a :class:`~trafficatlas.api.models.live.LiveMessage` (in the OpenAPI schema's
components): totals, countries, remote networks (AS by country) and places, sent and received.

Auth by session cookie or ``Authorization: Bearer``; refused with an HTTP 401/403 during the
handshake (``{"detail", "code"}`` as every error). An API node (role = api) has no pipeline and
sends one :class:`~trafficatlas.api.models.live.LiveUnavailable` message instead. Cookie
sessions must come from the same origin (against cross-site WebSocket hijacking). Private
peers' geography is blanked; a peer credential sees only its own rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket

from trafficatlas.aggregate.live import LiveRow
from trafficatlas.api.context import ApiContext
from trafficatlas.api.deps import resolve
from trafficatlas.api.errors import auth_code, error_response
from trafficatlas.api.models.live import (
    LiveAsn,
    LiveCountry,
    LiveMessage,
    LivePeer,
    LivePoint,
    LiveTotals,
    LiveUnavailable,
)
from trafficatlas.auth.errors import AuthError
from trafficatlas.auth.models import Principal, Role
from trafficatlas.enrich.countries import country_name
from trafficatlas.flowbatch import Direction

router = APIRouter(tags=["live"])

LIVE_UNAVAILABLE = (
    "no live view on this node (role = api): live traffic exists only in the collectors' "
    "pipelines; the history views read the shared store"
)


async def _wait_closed(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


def _add(acc: list[int], r: LiveRow) -> None:
    """Sum a row into [total, tx, rx, flows]."""
    acc[0] += r.bytes
    if r.direction == Direction.OUTBOUND:
        acc[1] += r.bytes
    elif r.direction == Direction.INBOUND:
        acc[2] += r.bytes
    acc[3] += r.flows


def _bytes(acc: list[int]) -> dict[str, int]:
    return {"total_bytes": acc[0], "tx_bytes": acc[1], "rx_bytes": acc[2], "flows": acc[3]}


def snapshot(ctx: ApiContext, principal: Principal, only: str | None = None) -> LiveMessage:
    """One message: totals, countries, networks, located points and peers over the window."""
    runtime = ctx.runtime
    window = ctx.settings.api.live_window_s
    name_of = runtime.pipeline.peer_name if runtime.pipeline else (lambda i: f"peer-{i}")
    private = ctx.metadata.private_peer_ids()
    zero = [0, 0, 0, 0]
    total, packets = list(zero), 0
    countries: dict[str, list[int]] = {}
    asns: dict[tuple[int, str], list[int]] = {}
    orgs: dict[int, str] = {}
    points: dict[tuple[str, str], tuple[float, float, list[int]]] = {}
    peers: dict[str, list[int]] = {}
    for r in runtime.live.rows(window):
        peer = name_of(r.peer) if r.peer else ""
        if principal.role == Role.PEER and peer != principal.peer_id:
            continue
        if only is not None and peer != only:
            continue
        _add(total, r)
        packets += r.packets
        if peer:
            _add(peers.setdefault(peer, list(zero)), r)
        if peer in private:
            continue  # counts in totals, its geography stays unknown
        _add(countries.setdefault(r.country, list(zero)), r)
        _add(asns.setdefault((r.asn, r.country), list(zero)), r)
        if r.as_org:
            orgs[r.asn] = r.as_org
        if r.latitude is not None and r.longitude is not None:
            _add(
                points.setdefault((r.country, r.city), (r.latitude, r.longitude, list(zero)))[2], r
            )
    top_point = max((p[2][0] for p in points.values()), default=0) or 1
    return LiveMessage(
        type="live",
        ts=time.time(),
        window_s=window,
        totals=LiveTotals(**_bytes(total), packets=packets),
        countries=[
            LiveCountry(code=k, name=country_name(k) if k else None, **_bytes(v))
            for k, v in sorted(countries.items(), key=lambda kv: -kv[1][0])
        ],
        asns=[
            LiveAsn(
                asn=a,
                organization=orgs.get(a),
                country=c,
                country_name=country_name(c) if c else None,
                **_bytes(v),
            )
            for (a, c), v in sorted(asns.items(), key=lambda kv: -kv[1][0])
        ],
        points=[
            LivePoint(
                country=k[0],
                city=k[1],
                latitude=lat,
                longitude=lon,
                intensity=v[0] / top_point,
                **_bytes(v),
            )
            for k, (lat, lon, v) in sorted(points.items(), key=lambda kv: -kv[1][2][0])
        ],
        peers=[
            LivePeer(peer=k, total_bytes=v[0], tx_bytes=v[1], rx_bytes=v[2])
            for k, v in sorted(peers.items())
        ],
    )


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return True  # not a browser: no ambient-credential risk
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()


@router.websocket("/api/live")
async def live(ws: WebSocket) -> None:
    """Push the live view every api.live_interval_s seconds until the client leaves.

    ``?peer=ID`` limits it to one peer.
    """
    ctx: ApiContext = ws.app.state.ctx
    try:
        principal = resolve(ctx, ws.headers, ws.cookies)
    except AuthError as exc:
        await ws.send_denial_response(error_response(401, str(exc), auth_code(exc)))
        return
    if principal is None:
        detail = "authentication required: session cookie or 'Authorization: Bearer <token>'"
        await ws.send_denial_response(error_response(401, detail, "unauthenticated"))
        return
    if principal.kind == "session" and not _same_origin(ws):
        detail = "cross-origin WebSocket with a session cookie refused"
        await ws.send_denial_response(error_response(403, detail, "forbidden"))
        return
    only = ws.query_params.get("peer") or None
    if principal.role == Role.PEER and only not in (None, principal.peer_id):
        detail = "a peer credential can only watch its own peer's traffic"
        await ws.send_denial_response(error_response(403, detail, "forbidden"))
        return
    await ws.accept()
    if ctx.settings.role == "api":
        # The live view is the pipeline's memory, and API nodes run no pipeline: say so once
        # (the dashboard shows it and does not reconnect) instead of pushing empty snapshots
        # that look like no traffic.
        unavailable = LiveUnavailable(type="unavailable", role="api", detail=LIVE_UNAVAILABLE)
        await ws.send_json(unavailable.model_dump(mode="json"))
        await _wait_closed(ws)
        return
    interval = ctx.settings.api.live_interval_s

    async def push() -> None:
        while True:
            await ws.send_json(snapshot(ctx, principal, only).model_dump(mode="json"))
            await asyncio.sleep(interval)

    sender = asyncio.create_task(push())
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        sender.cancel()
        # the client is gone: whatever the sender was doing has no one to send to
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
