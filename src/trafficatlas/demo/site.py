"""The demo site: where it is, its named peers, and the admin account a demo run logs in with.

The traffic model numbers its peers 0..N-1 and gives peer ``i`` the tunnel addresses
10.8.0.(i+2) and fd00:8::(i+2); here those addresses are attributed to stable peer ids
(``peer-<i+1>``, what the pipeline stores) with human names kept in the metadata store.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from trafficatlas.demo.traffic import PEER_NET_V4, PEER_NET_V6_HI

if TYPE_CHECKING:
    from trafficatlas.classify.prefixes import Network
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
