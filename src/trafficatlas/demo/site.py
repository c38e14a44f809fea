"""The demo site: where it is, its named peers, and the admin account a demo run logs in with.

The traffic model numbers its peers 0..N-1 and gives peer ``i`` the tunnel addresses
10.8.0.(i+2) and fd00:8::(i+2); here those addresses are attributed to stable peer ids
(``peer-<i+1>``, what the pipeline stores) with human names kept in the metadata store.
Each peer also connects from a public address of a real consumer ISP (its WireGuard endpoint)
and shakes hands every two minutes, reported as a WireGuard listing would.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trafficatlas.demo.traffic import PEER_NET_V4, PEER_NET_V6_HI

if TYPE_CHECKING:
    from trafficatlas.classify.prefixes import Network
    from trafficatlas.enrich.rangetable import RangeTable
    from trafficatlas.peerstate import PeerStates
    from trafficatlas.settings import Settings

# The site's own location (Zürich): where the map's flow lines start.
HOME_LATITUDE = 47.3769
HOME_LONGITUDE = 8.5417

PEER_NAMES = (
    "alice-laptop",
    "bob-phone",
    "carol-desktop",
    "dave-tablet",
    "erin-laptop",
    "frank-phone",
    "grace-nas",
    "heidi-laptop",
    "ivan-phone",
    "judy-desktop",
    "mallory-tv",
    "oscar-server",
)


# Consumer ISPs the peers connect from, by AS number (in PEER_NAMES order): Swisscom, Deutsche
# Telekom, Comcast, Virgin Media, Orange, KDDI, KPN, Telefonica, Korea Telecom, Telstra, Shaw, Claro
ENDPOINT_ASNS = (3303, 3320, 7922, 5089, 3215, 2516, 1136, 3352, 4766, 1221, 6327, 28573)
HANDSHAKE_EVERY_S = 120  # WireGuard shakes hands again every two minutes while traffic flows


def peer_id(index: int) -> str:
    """The stored peer id of the model's peer ``index`` (what the pipeline names owner ``index+1``)."""
    return f"peer-{index + 1}"


def peer_prefixes(peers: int) -> dict[str | Network, int]:
    """Tunnel prefix → classifier peer id (> 0) for the model's ``peers`` peers."""
    out: dict[str | Network, int] = {}
    for i in range(peers):
        v4 = ipaddress.IPv4Address(PEER_NET_V4 + i + 2)
        v6 = ipaddress.IPv6Address((PEER_NET_V6_HI << 64) | (i + 2))
        out[f"{v4}/32"] = i + 1
        out[f"{v6}/128"] = i + 1
    return out


def peer_name(index: int) -> str:
    """A readable, stable name for the model's peer ``index``."""
    return PEER_NAMES[index] if index < len(PEER_NAMES) else f"device-{index + 1}"


def register_peers(metadata_path: Path, peers: int) -> None:
    """Create (or rename back) the demo peers in the metadata store, so pages show names."""
    from trafficatlas.store.metadata import MetadataStore

    metadata_path.parent.mkdir(parents=True, exist_ok=True)
    with MetadataStore(metadata_path) as meta:
        for i in range(peers):
            meta.set_peer(peer_id(i), name=peer_name(i))


def endpoint_addresses(peers: int, table: RangeTable | None = None) -> dict[str, str]:
    """Peer id → a public IPv4 address inside its ISP's ranges (``table``: the bundled ASN
    table by default), the same on every run."""
    if table is None:
        from trafficatlas.enrich.bundled import load_bundled

        table = load_bundled().asn
    values = table.v4_values
    asn_of = table.records.columns["asn"][np.maximum(values, 0)]
    out: dict[str, str] = {}
    for i in range(peers):
        ranges = np.flatnonzero((values >= 0) & (asn_of == ENDPOINT_ASNS[i % len(ENDPOINT_ASNS)]))
        if not len(ranges):
            continue  # a table without this ISP: the peer has no endpoint
        r = int(ranges[(len(ranges) // 2 + i) % len(ranges)])
        start = int(table.v4_starts[r])
        end = int(table.v4_starts[r + 1]) if r + 1 < len(table.v4_starts) else 1 << 32
        address = start + min(17 + i, max(0, (end - start) // 2))
        out[peer_id(i)] = str(ipaddress.IPv4Address(address))
    return out


def report_peer_state(states: PeerStates, endpoints: dict[str, str], now: float) -> None:
    """The peers' latest handshake (each on its own two-minute beat) and endpoint."""
    for i, (pid, address) in enumerate(endpoints.items()):
        phase = (i * 37) % HANDSHAKE_EVERY_S
        states.report(pid, now - (now - phase) % HANDSHAKE_EVERY_S, address)


def new_admin_password() -> str:
    """A random password for one demo run (long enough for any password policy)."""
    return "demo-" + secrets.token_urlsafe(15)


def set_admin_password(settings: Settings, password: str) -> None:
    """Give the user ``admin`` this run's password, creating the account on a fresh data dir.

    A demo reusing a data dir still logs in with the password it prints, not an older one.
    """
    from trafficatlas.auth.service import AuthService
    from trafficatlas.store.metadata import MetadataStore

    path = settings.store.resolved_metadata_path(settings.data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with MetadataStore(path) as meta:
        service = AuthService(settings.auth, meta)
        service.ensure_admin(password)
        admin = service.store.user("admin")
        if admin is not None and not service.passwords.verify(
            service.store.password_hash("admin"), password
        ):
            service.set_password("demo", admin, password)
