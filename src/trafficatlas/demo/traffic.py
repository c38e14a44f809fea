"""A synthetic traffic model: sites with peers talking to real-world networks (Zipf, day/night)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from trafficatlas.demo.exportgen import POPULAR_ASNS, FlowSpec
from trafficatlas.enrich.rangetable import RangeTable

# Local sides: VPN peers in 10.8.0.0/24 and LAN hosts in 192.168.1.0/24, IPv6 in fd00:8::/64
PEER_NET_V4 = 0x0A080000  # 10.8.0.0
LAN_NET_V4 = 0xC0A80100  # 192.168.1.0
PEER_NET_V6_HI = 0xFD00000800000000  # fd00:8::/64

SERVICE_PORTS = np.array([443, 443, 443, 443, 80, 53, 123, 993, 22, 8443, 3478, 51820])
SERVICE_PROTO = np.array([6, 6, 6, 17, 6, 17, 17, 6, 6, 6, 17, 17], dtype=np.uint8)


@dataclass(slots=True)
class DestinationPool:
    """Public destination addresses sampled from real ASN ranges, with Zipf weights."""

    version: npt.NDArray[np.uint8]
    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    weight: npt.NDArray[np.float64]

    @classmethod
    def from_asn_table(
        cls, table: RangeTable, rng: np.random.Generator, per_asn: int = 40
    ) -> DestinationPool:
        """Addresses inside the ranges of popular ASNs; rank r gets weight 1/r."""
        asn_col = table.records.columns["asn"]
        v4_asn = np.where(table.v4_values >= 0, asn_col[np.maximum(table.v4_values, 0)], 0)
        v6_asn = np.where(table.v6_values >= 0, asn_col[np.maximum(table.v6_values, 0)], 0)
        vers: list[int] = []
        his: list[int] = []
        los: list[int] = []
        weights: list[float] = []
        rank = 0
        for asn in POPULAR_ASNS:
            pos4 = np.flatnonzero(v4_asn == asn)
            if not len(pos4):
                continue
            rank += 1
            w = 1.0 / rank
            pick = rng.choice(pos4, size=per_asn)
            starts = table.v4_starts[pick].astype(np.uint64)
            ends = np.where(
                pick + 1 < len(table.v4_starts),
                table.v4_starts[np.minimum(pick + 1, len(table.v4_starts) - 1)].astype(np.uint64),
                np.uint64(1 << 32),
            )
            span = np.maximum(ends - starts, np.uint64(1))
            addrs = starts + (rng.integers(0, 1 << 62, size=per_asn).astype(np.uint64) % span)
            for a in addrs:
                vers.append(4)
                his.append(0)
                los.append(int(a))
                weights.append(w / per_asn)
            pos6 = np.flatnonzero(v6_asn == asn)
            if len(pos6):
                for p in rng.choice(pos6, size=max(per_asn // 4, 1)):
                    vers.append(6)
                    his.append(int(table.v6_hi[p]))
                    los.append(int(table.v6_lo[p]) | int(rng.integers(1, 1 << 16)))
                    weights.append(0.25 * w / per_asn)
        if not vers:
            raise ValueError("the ASN table has none of the popular networks")
        wts = np.array(weights)
        return cls(
            version=np.array(vers, np.uint8),
            hi=np.array(his, np.uint64),
            lo=np.array(los, np.uint64),
            weight=wts / wts.sum(),
        )


class TrafficModel:
    """Generates flows for a site's peers: outbound requests and the inbound replies."""

    def __init__(
        self, pool: DestinationPool, peers: int = 12, flows_per_s: float = 40.0, seed: int = 7
    ) -> None:
        self.pool = pool
        self.peers = peers
        self.flows_per_s = flows_per_s
        self._rng = np.random.default_rng(seed)
        ranks = np.arange(1, self.peers + 1, dtype=np.float64)
        self._peer_w = (1.0 / ranks) / (1.0 / ranks).sum()

    def shape(self, t: float) -> float:
        """Day/night multiplier (peaks in the evening, UTC), between 0.25 and 1.75."""
        hour = (t / 3600.0) % 24.0
        return 1.0 + 0.75 * math.sin((hour - 14.0) / 24.0 * 2 * math.pi)

    def flows(self, t0: float, t1: float) -> FlowSpec:
        """Flows that ended in [t0, t1): each request with its reply (two unidirectional flows)."""
        rng = self._rng
        mean = self.flows_per_s * (t1 - t0) * self.shape((t0 + t1) / 2)
        n = int(rng.poisson(max(mean, 0.0)))
        dst = rng.choice(len(self.pool.weight), size=n, p=self.pool.weight)
        peer = rng.choice(self.peers, size=n, p=self._peer_w)
        svc = rng.integers(0, len(SERVICE_PORTS), size=n)
        dver = self.pool.version[dst]
        is6 = dver == 6
        src_lo = np.where(
            is6,
            np.uint64(peer + 2),
            np.uint64(PEER_NET_V4) + (peer + 2).astype(np.uint64),
        ).astype(np.uint64)
        src_hi = np.where(is6, np.uint64(PEER_NET_V6_HI), np.uint64(0)).astype(np.uint64)
        sport = rng.integers(32768, 61000, size=n).astype(np.uint16)
        dport = SERVICE_PORTS[svc].astype(np.uint16)
        proto = SERVICE_PROTO[svc]
        # heavy-tailed transfer sizes; replies are larger (downloads)
        up = np.minimum(rng.lognormal(7.0, 1.4, size=n), 5e8).astype(np.uint64) + np.uint64(60)
        down = np.minimum(rng.lognormal(9.0, 1.8, size=n), 5e9).astype(np.uint64) + np.uint64(60)
        up_p = np.maximum(up // np.uint64(700), np.uint64(1))
        down_p = np.maximum(down // np.uint64(1200), np.uint64(1))
        end = (t0 + rng.random(n) * (t1 - t0)) * 1000.0
        dur = rng.exponential(8000.0, size=n)
        end_ms = end.astype(np.uint64)
        start_ms = (end - dur).astype(np.uint64)
        one = np.ones(n, dtype=np.uint32)
        return FlowSpec(
            version=np.concatenate([dver, dver]),
            src_hi=np.concatenate([src_hi, self.pool.hi[dst]]),
            src_lo=np.concatenate([src_lo, self.pool.lo[dst]]),
            dst_hi=np.concatenate([self.pool.hi[dst], src_hi]),
            dst_lo=np.concatenate([self.pool.lo[dst], src_lo]),
            sport=np.concatenate([sport, dport]),
            dport=np.concatenate([dport, sport]),
            proto=np.concatenate([proto, proto]),
            bytes=np.concatenate([up, down]),
            packets=np.concatenate([up_p, down_p]),
            start_ms=np.concatenate([start_ms, start_ms]),
            end_ms=np.concatenate([end_ms, end_ms]),
            in_if=np.concatenate([one * 2, one * 1]),
            out_if=np.concatenate([one * 1, one * 2]),
        )
