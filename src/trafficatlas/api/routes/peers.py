"""Peers: their traffic, their geography, and their settings (name, privacy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from trafficatlas.api.deps import Admin, Authenticated, Ctx, check_peer_access, client_of, scoped
from trafficatlas.api.errors import error_doc
from trafficatlas.api.models.common import Totals, traffic_values
from trafficatlas.api.models.traffic import (
    PeerCountry,
    PeerGeoResponse,
    PeerInfo,
    PeerRow,
    PeersResponse,
    PeerStatus,
    PeerUpdate,
    PeerUpdateResult,
)
from trafficatlas.api.params import TimeRange, filters, time_range
from trafficatlas.api.peerstate import NO_STATUS, cache_part, peer_statuses
from trafficatlas.api.querying import answer, range_fields
from trafficatlas.enrich.countries import country_name
from trafficatlas.query import Filters, top
from trafficatlas.store import Peer, Store
from trafficatlas.store.metadata import MetadataStore

router = APIRouter(
    prefix="/api/metrics/peers", tags=["peers"], responses=error_doc(400, 401, 403, 503)
)

Range = Annotated[TimeRange, Depends(time_range)]
Where = Annotated[Filters, Depends(filters)]
PeerId = Annotated[str, Path(min_length=1, max_length=200, description="Stable peer id.")]


def peer_info(p: Peer) -> PeerInfo:
    return PeerInfo(
        id=p.id, name=p.name, private=p.private, created_at=p.created_at, updated_at=p.updated_at
    )


def peers_result(
    store: Store,
    meta: MetadataStore,
    f: Filters,
    rng: TimeRange,
    statuses: dict[str, PeerStatus],
) -> PeersResponse:
    r = top(store, ["peer"], f, None, rng.since, rng.until)
    known = {p.id: p for p in meta.peers()}
    rows: list[PeerRow] = []
    seen: set[str] = set()
    for x in r.rows:
        pid = str(x.key["peer"])
        if not pid:
            continue  # traffic of no peer (routers, hosts) is in the totals only
        seen.add(pid)
        p = known.get(pid)
        rows.append(
            PeerRow(
                id=pid,
                name=p.name if p else None,
                private=p.private if p else False,
                **traffic_values(x, x.percent),
                **statuses.get(pid, NO_STATUS).model_dump(),
            )
        )
    for pid, p in known.items():
        if pid not in seen and (not f.peer or pid in f.peer):
            zero = dict.fromkeys(("total_bytes", "tx_bytes", "rx_bytes", "packets", "flows"), 0)
            status = statuses.get(pid, NO_STATUS).model_dump()
            rows.append(
                PeerRow(id=pid, name=p.name, private=p.private, percent=0.0, **zero, **status)
            )
    return PeersResponse(**range_fields(r), rows=rows, totals=Totals.of(r.totals))


@router.get("", operation_id="peers_list", response_model=PeersResponse)
async def peers(ctx: Ctx, principal: Authenticated, rng: Range, where: Where) -> Response:
    """Every peer with its traffic in the range, last handshake and endpoint location (a peer
    credential sees only itself)."""
    f = scoped(where, principal)
    meta = ctx.metadata
    statuses = await run_in_threadpool(peer_statuses, ctx)
    return await answer(
        ctx,
        "peers",
        rng,
        f,
        (cache_part(statuses),),
        lambda s: peers_result(s, meta, f, rng, statuses),
    )


def peer_geo_result(
    store: Store, peer: Peer, f: Filters, rng: TimeRange, status: PeerStatus
) -> PeerGeoResponse:
    r = top(store, ["country"], f, None, rng.since, rng.until)
    rows = []
    for x in r.rows:
        code = str(x.key["country"])
        rows.append(
            PeerCountry(
                code=code,
                name=country_name(code) if code else None,
                **traffic_values(x, x.percent),
            )
        )
    return PeerGeoResponse(
        **range_fields(r),
        **status.model_dump(),
        peer=peer_info(peer),
        rows=rows,
        totals=Totals.of(r.totals),
    )


@router.get(
    "/{peer_id}/geo",
    operation_id="peer_geo",
    response_model=PeerGeoResponse,
    responses=error_doc(404),
)
async def peer_geo(
    ctx: Ctx, principal: Authenticated, peer_id: PeerId, rng: Range, where: Where
) -> Response:
    """One peer's traffic by remote country, its last handshake and endpoint location (a
    private peer shows totals and handshake only)."""
    check_peer_access(principal, peer_id)
    if where.peer and where.peer != [peer_id]:
        raise HTTPException(400, "the peer filter contradicts the peer in the path")
    peer = await run_in_threadpool(ctx.metadata.peer, peer_id)
    if peer is None:
        raise HTTPException(404, f"no peer {peer_id!r}")
    f = where.model_copy(update={"peer": [peer_id]})
    status = (await run_in_threadpool(peer_statuses, ctx)).get(peer_id, NO_STATUS)
    return await answer(
        ctx,
        "peer_geo",
        rng,
        f,
        (peer_id, status.model_dump_json()),
        lambda s: peer_geo_result(s, peer, f, rng, status),
    )


@router.patch(
    "/{peer_id}",
    operation_id="peer_update",
    response_model=PeerUpdateResult,
    responses=error_doc(404),
)
def update_peer(
    ctx: Ctx, principal: Admin, peer_id: PeerId, change: PeerUpdate, request: Request
) -> PeerUpdateResult:
    """Rename a peer or change its privacy; turning privacy on blanks stored geography."""
    before = ctx.metadata.peer(peer_id)
    if before is None:
        raise HTTPException(404, f"no peer {peer_id!r}")
    peer = ctx.metadata.set_peer(peer_id, name=change.name, private=change.private)
    scrubbed = 0
    if change.private and change.scrub_history:
        scrub = getattr(ctx.store(), "scrub_peer", None)
        if scrub is not None:
            scrubbed = sum(scrub(peer_id).values())
    ctx.cache.clear()  # names and geography in cached results changed
    ctx.auth.audit.record(
        principal.name,
        "peer.update",
        target=peer_id,
        client=client_of(request),
        name=change.name,
        private=change.private,
        scrubbed_rows=scrubbed,
    )
    return PeerUpdateResult(peer=peer_info(peer), scrubbed_rows=scrubbed)
