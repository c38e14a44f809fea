"""WebSocket /api/live: the live view (last seconds of traffic) pushed every interval.

Auth by session cookie or ``Authorization: Bearer``; refused with an HTTP 401/403 during the
handshake. Cookie sessions must come from the same origin (against cross-site WebSocket
hijacking). Private peers' geography is blanked; a peer credential sees only its own rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from trafficatlas.aggregate.live import LiveRow
from trafficatlas.api.context import ApiContext
from trafficatlas.api.deps import resolve
from trafficatlas.auth.errors import AuthError
from trafficatlas.auth.models import Principal, Role
from trafficatlas.enrich.countries import country_name

router = APIRouter(tags=["live"])


def snapshot(ctx: ApiContext, principal: Principal, only: str | None = None) -> dict[str, Any]:
    """One message: totals, countries, located points and peers over the live window."""
    runtime = ctx.runtime
    window = ctx.settings.api.live_window_s
    name_of = runtime.pipeline.peer_name if runtime.pipeline else (lambda i: f"peer-{i}")
    private = ctx.metadata.private_peer_ids()
    countries: dict[str, list[int]] = {}
    points: dict[tuple[str, str], list[Any]] = {}
    peers: dict[str, int] = {}
    total = [0, 0, 0]
    rows: list[LiveRow] = runtime.live.rows(window)
    for r in rows:
        peer = name_of(r.peer) if r.peer else ""
        if principal.role == Role.PEER and peer != principal.peer_id:
            continue
        if only is not None and peer != only:
            continue
        total[0] += r.bytes
        total[1] += r.packets
        total[2] += r.flows
        if peer:
            peers[peer] = peers.get(peer, 0) + r.bytes
        if peer in private:
            continue  # counts in totals, its geography stays unknown
        c = countries.setdefault(r.country, [0, 0])
        c[0] += r.bytes
        c[1] += r.flows
        if r.latitude is not None and r.longitude is not None:
            p = points.setdefault((r.country, r.city), [r.latitude, r.longitude, 0, 0])
            p[2] += r.bytes
            p[3] += r.flows
    top_point = max((p[2] for p in points.values()), default=0) or 1
    return {
        "type": "live",
        "ts": time.time(),
        "window_s": window,
        "totals": {"total_bytes": total[0], "packets": total[1], "flows": total[2]},
        "countries": [
            {"code": k, "name": country_name(k) if k else None, "total_bytes": v[0], "flows": v[1]}
            for k, v in sorted(countries.items(), key=lambda kv: -kv[1][0])
        ],
        "points": [
            {
                "country": k[0],
                "city": k[1],
                "latitude": v[0],
                "longitude": v[1],
                "total_bytes": v[2],
                "flows": v[3],
                "intensity": v[2] / top_point,
            }
            for k, v in sorted(points.items(), key=lambda kv: -kv[1][2])
        ],
        "peers": [{"peer": k, "total_bytes": v} for k, v in sorted(peers.items())],
    }


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
        await ws.send_denial_response(JSONResponse({"detail": str(exc)}, status_code=401))
        return
    if principal is None:
        detail = "authentication required: session cookie or 'Authorization: Bearer <token>'"
        await ws.send_denial_response(JSONResponse({"detail": detail}, status_code=401))
        return
    if principal.kind == "session" and not _same_origin(ws):
        detail = "cross-origin WebSocket with a session cookie refused"
        await ws.send_denial_response(JSONResponse({"detail": detail}, status_code=403))
        return
    only = ws.query_params.get("peer") or None
    if principal.role == Role.PEER and only not in (None, principal.peer_id):
        detail = "a peer credential can only watch its own peer's traffic"
        await ws.send_denial_response(JSONResponse({"detail": detail}, status_code=403))
        return
    await ws.accept()
    interval = ctx.settings.api.live_interval_s

    async def push() -> None:
        while True:
            await ws.send_json(snapshot(ctx, principal, only))
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
