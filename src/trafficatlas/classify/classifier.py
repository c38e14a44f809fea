"""The classify stage: direction, local and remote endpoint, and owner of every flow.

Which side is local comes from the declared local networks (lan / vpn / own prefixes), the
router's WAN addresses (declared, and learned from SNAT in conntrack's tuples) and, unless turned
off, the private and other site-scoped ranges. With NAT information (:class:`NatAddresses`), an
endpoint counts as local when either its address or its translated address is, and the local
endpoint reported is the pre-NAT one: traffic is attributed to the LAN client, not to the WAN
address. The remote endpoint is the one to geolocate, unless it is private, reserved or local.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from trafficatlas.classify.nat import NatAddresses
from trafficatlas.classify.prefixes import Network, PrefixTable, parse_network
from trafficatlas.classify.settings import ClassifySettings, LocalKind
from trafficatlas.enrich.special import SPECIAL_RANGES, Label, SpecialRanges
from trafficatlas.flowbatch import Direction, FlowBatch
from trafficatlas.logging import get_logger
from trafficatlas.net import format_ip

log = get_logger("classify")

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]

# Undeclared ranges that are local when private_is_local is set: they cannot be a remote site.
SITE_SCOPED = (Label.PRIVATE, Label.SHARED, Label.LOOPBACK, Label.LINK_LOCAL, Label.MULTICAST)
# How strongly an address says "this endpoint is a host of ours": a host address beats the WAN
# address it is translated to.
_RANK = np.array([0, 2, 2, 2, 1, 2], dtype=np.uint8)  # indexed by LocalKind


@dataclass(slots=True)
class ClassifiedBatch:
    """A FlowBatch (direction filled) with its local and remote endpoint and owner per row."""

    flows: FlowBatch
    local_hi: U64
    local_lo: U64
    local_kind: U8  # LocalKind of the local endpoint (NONE when the direction is UNKNOWN)
    remote_version: U8
    remote_hi: U64
    remote_lo: U64
    remote_label: U8  # enrich.special.Label: PUBLIC = geolocate; LOCAL for internal flows
    owner_id: U32  # peer id owning the local endpoint; 0 = the local host address itself

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "local_hi",
        "local_lo",
        "local_kind",
        "remote_version",
        "remote_hi",
        "remote_lo",
        "remote_label",
        "owner_id",
    )

    def __len__(self) -> int:
        return len(self.flows)

    def geolocate(self) -> B:
        """Rows whose remote endpoint is a public address to look up."""
        out: B = self.remote_label == Label.PUBLIC
        return out

    def take(self, index: npt.NDArray[Any]) -> ClassifiedBatch:
        """Rows selected by a mask or an index array."""
        cols = {k: getattr(self, k)[index] for k in self.COLUMNS}
        return ClassifiedBatch(flows=self.flows.take(index), **cols)

    @classmethod
    def concat(cls, parts: list[ClassifiedBatch]) -> ClassifiedBatch:
        """Rows of all parts in order (at least one part)."""
        cols = {k: np.concatenate([getattr(p, k) for p in parts]) for k in cls.COLUMNS}
        return cls(flows=FlowBatch.concat([p.flows for p in parts]), **cols)


class Classifier:
    """Classifies FlowBatches against the site's networks; safe to reconfigure while running."""

    def __init__(self, settings: ClassifySettings, special: SpecialRanges | None = None) -> None:
        self.settings = settings
        self.special = special if special is not None else SpecialRanges.build()
        self._declared_wan = [parse_network(a) for a in settings.wan_addresses]
        self._learned_wan: dict[Network, float] = {}
        self._lock = threading.Lock()  # guards the learned WAN set and table rebuilds
        self._peers = PrefixTable()
        self._local = self._build_local()

    # -- configuration -----------------------------------------------------------------------

    def set_peer_prefixes(self, mapping: Mapping[str | Network, int]) -> None:
        """Replace the tunnel prefix → peer id map (peer ids > 0; most specific prefix wins)."""
        for prefix, peer in mapping.items():
            if peer <= 0 or peer > 0xFFFF_FFFF:
                raise ValueError(f"peer id for {prefix} must be in 1..2**32-1, got {peer}")
        self._peers = PrefixTable(mapping.items())  # one assignment: lookups see old or new

    def set_wan_addresses(self, addresses: list[str]) -> None:
        """Replace the declared WAN addresses (learned ones are kept)."""
        nets = [parse_network(a) for a in addresses]
        with self._lock:
            self._declared_wan = nets
            self._local = self._build_local()

    def wan_addresses(self) -> list[str]:
        """Declared and learned WAN addresses."""
        with self._lock:
            nets = [*self._declared_wan, *self._learned_wan]
        return [str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in nets]

    def _build_local(self) -> PrefixTable:
        entries: list[tuple[str | Network, int]] = []
        if self.settings.private_is_local:
            entries += [
                (cidr, LocalKind.PRIVATE) for cidr, lab in SPECIAL_RANGES if lab in SITE_SCOPED
            ]
        entries += [(n.cidr, LocalKind[n.label.upper()]) for n in self.settings.local_networks]
        entries += [(w, LocalKind.WAN) for w in (*self._declared_wan, *self._learned_wan)]
        return PrefixTable(entries)

    # -- classification ----------------------------------------------------------------------

    def classify(self, batch: FlowBatch, nat: NatAddresses | None = None) -> ClassifiedBatch:
        """Direction, local/remote endpoint and owner for every row of ``batch``."""
        n = len(batch)
        version = batch.ip_version
        if nat is None:
            # no translation: each endpoint's translated address is its own, so only two
            # address columns need a lookup (and there is no SNAT to learn a WAN address from)
            nat = NatAddresses(
                xsrc_hi=batch.src_hi,
                xsrc_lo=batch.src_lo,
                xdst_hi=batch.dst_hi,
                xdst_lo=batch.dst_lo,
                reply=np.zeros(n, dtype=bool),
            )
            if self._learned_wan:
                self._expire_wan()  # learned WAN addresses still age while no NAT data comes in
            kinds = self._kinds(
                np.tile(version, 2),
                np.concatenate([batch.src_hi, batch.dst_hi]),
                np.concatenate([batch.src_lo, batch.dst_lo]),
            )
            k_src, k_dst = kinds[:n], kinds[n:]
            k_xsrc, k_xdst = k_src, k_dst
        else:
            if len(nat) != n:
                raise ValueError("NatAddresses and FlowBatch differ in length")
            his = np.concatenate([batch.src_hi, nat.xsrc_hi, batch.dst_hi, nat.xdst_hi])
            los = np.concatenate([batch.src_lo, nat.xsrc_lo, batch.dst_lo, nat.xdst_lo])
            versions = np.tile(version, 4)
            kinds = self._kinds(versions, his, los)
            if self.settings.learn_wan_from_nat and self._learn_wan(batch, nat, kinds):
                kinds = self._kinds(versions, his, los)
            k_src, k_xsrc, k_dst, k_xdst = (kinds[i * n : (i + 1) * n] for i in range(4))

        # each endpoint: the address (own or translated) that says most clearly it is ours
        src_x = _RANK[k_xsrc] > _RANK[k_src]
        dst_x = _RANK[k_xdst] > _RANK[k_dst]
        src_kind = np.where(src_x, k_xsrc, k_src)
        dst_kind = np.where(dst_x, k_xdst, k_dst)
        src_hi = np.where(src_x, nat.xsrc_hi, batch.src_hi)
        src_lo = np.where(src_x, nat.xsrc_lo, batch.src_lo)
        dst_hi = np.where(dst_x, nat.xdst_hi, batch.dst_hi)
        dst_lo = np.where(dst_x, nat.xdst_lo, batch.dst_lo)
        src_local = src_kind != LocalKind.NONE
        dst_local = dst_kind != LocalKind.NONE

        direction = np.full(n, Direction.UNKNOWN, dtype=np.uint8)
        direction[src_local & ~dst_local] = Direction.OUTBOUND
        direction[~src_local & dst_local] = Direction.INBOUND
        direction[src_local & dst_local] = Direction.INTERNAL
        inbound = direction == Direction.INBOUND
        internal = direction == Direction.INTERNAL

        local_hi = np.where(inbound, dst_hi, src_hi)
        local_lo = np.where(inbound, dst_lo, src_lo)
        local_kind = np.where(inbound, dst_kind, src_kind).astype(np.uint8)
        # the remote endpoint as the flow shows it, except an internal peer's pre-NAT address
        remote_hi = np.where(inbound, batch.src_hi, np.where(internal, dst_hi, batch.dst_hi))
        remote_lo = np.where(inbound, batch.src_lo, np.where(internal, dst_lo, batch.dst_lo))
        remote_label = self.special.classify(version, remote_hi, remote_lo)
        remote_label[internal] = Label.LOCAL

        owner = self._peers.lookup(version, local_hi, local_lo)
        owner_id = np.where(direction != Direction.UNKNOWN, np.maximum(owner, 0), 0)
        return ClassifiedBatch(
            flows=replace(batch, direction=direction),
            local_hi=local_hi.astype(np.uint64),
            local_lo=local_lo.astype(np.uint64),
            local_kind=local_kind,
            remote_version=version.copy(),
            remote_hi=remote_hi.astype(np.uint64),
            remote_lo=remote_lo.astype(np.uint64),
            remote_label=remote_label,
            owner_id=owner_id.astype(np.uint32),
        )

    def _kinds(self, version: U8, hi: U64, lo: U64) -> U8:
        kinds = self._local.lookup(version, hi, lo)
        out: U8 = np.maximum(kinds, 0).astype(np.uint8)
        return out

    def _learn_wan(self, batch: FlowBatch, nat: NatAddresses, kinds: U8) -> bool:
        """Record SNAT source addresses as WAN addresses; True when the set changed."""
        n = len(batch)
        k_src, k_xsrc, k_dst, k_xdst = (kinds[i * n : (i + 1) * n] for i in range(4))
        host = _RANK == 2
        outside = (_RANK[k_xsrc] < 2, _RANK[k_dst] < 2)
        # original rows: a host source leaves as xsrc; reply rows: it is addressed as dst
        snat_o = (
            ~nat.reply
            & host[k_src]
            & outside[0]
            & _differs(batch.src_hi, batch.src_lo, nat.xsrc_hi, nat.xsrc_lo)
        )
        snat_r = (
            nat.reply
            & host[k_xdst]
            & outside[1]
            & _differs(batch.dst_hi, batch.dst_lo, nat.xdst_hi, nat.xdst_lo)
        )
        if not (snat_o.any() or snat_r.any()):
            return self._expire_wan()
        cand = np.concatenate(
            [
                np.stack([batch.ip_version[snat_o], nat.xsrc_hi[snat_o], nat.xsrc_lo[snat_o]], 1),
                np.stack([batch.ip_version[snat_r], batch.dst_hi[snat_r], batch.dst_lo[snat_r]], 1),
            ]
        ).astype(np.uint64)
        now = time.monotonic()
        changed = False
        with self._lock:
            for v, hi, lo in np.unique(cand, axis=0).tolist():
                net = parse_network(format_ip(int(v), int(hi), int(lo)))
                if net not in self._learned_wan and net not in self._declared_wan:
                    log.info("learned WAN address from NAT", address=str(net.network_address))
                    changed = True
                self._learned_wan[net] = now
            if changed:
                self._local = self._build_local()
        return self._expire_wan() or changed

    def _expire_wan(self) -> bool:
        ttl = self.settings.learned_wan_ttl_s
        now = time.monotonic()
        with self._lock:
            old = [net for net, seen in self._learned_wan.items() if now - seen > ttl]
            for net in old:
                del self._learned_wan[net]
            if old:
                self._local = self._build_local()
            return bool(old)


def _differs(a_hi: U64, a_lo: U64, b_hi: U64, b_lo: U64) -> B:
    out: B = (a_hi != b_hi) | (a_lo != b_lo)
    return out
