"""The latest state of each peer as its source reports it: last handshake and endpoint.

WireGuard knows when each peer last completed a handshake and from which address it connects
(its endpoint). That is current state, not traffic, so it is not stored: the runtime keeps the
last report per stable peer id (what traffic rows carry) and locates the endpoints with the GeoIP
engine when asked, so a database reload applies at once. Private peers' endpoints are never kept,
let alone geolocated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trafficatlas.net import parse_ip

if TYPE_CHECKING:
    from trafficatlas.enrich.engine import GeoIP
    from trafficatlas.sources.wireguard import PeerInfo


@dataclass(frozen=True, slots=True)
class PeerEndpoint:
    """Where a peer connects from: its address and what the databases say about it."""

    address: str
    country: str | None  # ISO code; None when not geolocated (or a private/reserved address)
    city: str | None
    latitude: float | None
    longitude: float | None
    asn: int | None
    as_org: str | None


@dataclass(frozen=True, slots=True)
class PeerState:
    """One peer's last report."""

    peer_id: str
    latest_handshake: float | None  # epoch seconds; None before the first handshake
    endpoint: PeerEndpoint | None  # None: no endpoint yet, or a private peer


@dataclass(frozen=True, slots=True)
class _Report:
    latest_handshake: float | None
    address: str | None


class PeerStates:
    """Latest handshake and endpoint address per peer id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[str, _Report] = {}

    def report(
        self,
        peer_id: str,
        latest_handshake: float | None,
        endpoint_address: str | None,
        private: bool = False,
    ) -> None:
        """Remember a peer's state; a private peer's endpoint is dropped here, never kept, and
        so is an address that does not parse."""
        handshake = latest_handshake if latest_handshake else None  # WireGuard's 0 = never
        address = None if private else _valid(endpoint_address)
        with self._lock:
            self._reports[peer_id] = _Report(handshake, address)

    def report_wireguard(self, peers: Iterable[PeerInfo]) -> None:
        """Remember the peers of a WireGuard listing (keyed by public key, the stable id).

        A key on several interfaces keeps the most recent handshake.
        """
        best: dict[str, PeerInfo] = {}
        for p in peers:
            seen = best.get(p.public_key)
            if seen is None or (p.latest_handshake or 0) > (seen.latest_handshake or 0):
                best[p.public_key] = p
        for key, p in best.items():
            self.report(key, p.latest_handshake, p.endpoint_address, private=p.private)

    def forget(self, peer_id: str) -> None:
        """Drop a peer's state (e.g. when it turned private)."""
        with self._lock:
            self._reports.pop(peer_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._reports)

    def snapshot(self, geo: GeoIP | None) -> dict[str, PeerState]:
        """Every peer's state with its endpoint located by ``geo`` (one batch lookup)."""
        with self._lock:
            reports = dict(self._reports)
        addresses = sorted({r.address for r in reports.values() if r.address})
        located = _locate(geo, addresses)
        return {
            pid: PeerState(
                peer_id=pid,
                latest_handshake=r.latest_handshake,
                endpoint=located.get(r.address) if r.address else None,
            )
            for pid, r in reports.items()
        }


def _valid(address: str | None) -> str | None:
    if not address:
        return None
    try:
        parse_ip(address)
    except ValueError:
        return None
    return address.strip()


def _locate(geo: GeoIP | None, addresses: list[str]) -> dict[str, PeerEndpoint]:
    """Endpoint per address (a row the engine refuses is left out)."""
    if not addresses:
        return {}
    if geo is None:  # the engine is not loaded yet: the address alone
        return {a: PeerEndpoint(a, None, None, None, None, None, None) for a in addresses}
    out: dict[str, PeerEndpoint] = {}
    for a, row in zip(addresses, geo.lookup_ips(addresses), strict=True):
        if "error" in row:
            continue
        out[a] = PeerEndpoint(
            address=a,
            country=row.get("country"),
            city=row.get("city"),
            latitude=row.get("latitude"),
            longitude=row.get("longitude"),
            asn=row.get("asn"),
            as_org=row.get("as_org"),
        )
    return out
