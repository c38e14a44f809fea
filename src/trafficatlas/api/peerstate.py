"""Peers' last handshake and endpoint as the API may show them.

Privacy: a private peer's endpoint is never shown (nor kept, see :mod:`trafficatlas.peerstate`),
and the endpoint's IP address only when the user turned flow detail on; its location (country,
city, AS) is shown like any other geography.
"""

from __future__ import annotations

from collections.abc import Hashable

from trafficatlas.api.context import ApiContext
from trafficatlas.api.models.traffic import PeerEndpoint, PeerStatus
from trafficatlas.enrich.countries import country_name
from trafficatlas.peerstate import PeerState

NO_STATUS = PeerStatus(last_handshake=None, endpoint=None)


def visible(
    states: dict[str, PeerState], private: frozenset[str] | set[str], show_address: bool
) -> dict[str, PeerStatus]:
    """Per peer id, the status the API answers with."""
    out: dict[str, PeerStatus] = {}
    for pid, st in states.items():
        endpoint = None
        e = st.endpoint
        if e is not None and pid not in private:
            endpoint = PeerEndpoint(
                address=e.address if show_address else None,
                country=e.country,
                country_name=country_name(e.country) if e.country else None,
                city=e.city,
                latitude=e.latitude,
                longitude=e.longitude,
                asn=e.asn,
                organization=e.as_org,
            )
        out[pid] = PeerStatus(last_handshake=st.latest_handshake, endpoint=endpoint)
    return out


def peer_statuses(ctx: ApiContext) -> dict[str, PeerStatus]:
    """Every reported peer's status (blocking: WireGuard listing, GeoIP lookup, metadata)."""
    return visible(
        ctx.runtime.peer_state(),
        ctx.metadata.private_peer_ids(),
        ctx.settings.store.flow_detail.enabled,
    )


def cache_part(statuses: dict[str, PeerStatus]) -> Hashable:
    """A result-cache key part: results that include peer status change when it does."""
    return tuple(sorted((pid, s.model_dump_json()) for pid, s in statuses.items()))
