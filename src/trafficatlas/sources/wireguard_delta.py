"""Delta accounting of WireGuard per-peer transfer counters.

A peer's counters are keyed by (interface, public key). The rules:

- peers listed before the first complete listing are a baseline: what they moved before is not
  counted;
- a peer first listed by a later poll was added since (or its interface was created): its
  counters started at zero, so they count in full;
- a counter that went down means the interface or the peer was re-created: the new value counts
  from zero;
- a peer missing from a complete listing is kept for ``grace_polls`` polls (so a listing race
  does not turn its lifetime counters into a spike when it shows up again), then forgotten.
  An incomplete listing (``wg`` reported an error) ages nobody.

Counted totals per public key are kept for the life of the process, whatever happens to the
counter state, so a peer's totals are never split.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trafficatlas.sources.wireguard_dump import DumpPeer


@dataclass(slots=True)
class PeerDelta:
    """Bytes a peer moved since the previous poll (rx: received from it, tx: sent to it)."""

    peer: DumpPeer
    rx: int
    tx: int
    since: float  # wall time the previous counters were read (start of the interval)


@dataclass(slots=True)
class _Counters:
    rx: int
    tx: int
    seen_wall: float
    missed: int = 0


@dataclass(slots=True)
class AccountingCounts:
    """What the last cycles did (added to the source's metrics)."""

    baseline: int = 0
    new_peers: int = 0
    resets: int = 0
    forgotten: int = 0


@dataclass(slots=True)
class PeerAccounting:
    """Turns successive peer listings into per-peer byte deltas."""

    grace_polls: int = 2
    counts: AccountingCounts = field(default_factory=AccountingCounts)
    _state: dict[tuple[str, str], _Counters] = field(default_factory=dict)
    _totals: dict[str, list[int]] = field(default_factory=dict)  # key -> [rx, tx] counted
    _baselined: bool = False
    _last_wall: float | None = None

    @property
    def baselined(self) -> bool:
        return self._baselined

    def __len__(self) -> int:
        return len(self._state)

    def totals(self, key: str) -> tuple[int, int]:
        """(rx, tx) bytes counted for a public key since this process started."""
        rx_tx = self._totals.get(key)
        return (rx_tx[0], rx_tx[1]) if rx_tx is not None else (0, 0)

    def cycle(
        self, peers: list[DumpPeer], now_wall: float, complete: bool = True
    ) -> list[PeerDelta]:
        """One listing: the non-zero deltas, in listing order."""
        out: list[PeerDelta] = []
        last = self._last_wall if self._last_wall is not None else now_wall
        listed: set[tuple[str, str]] = set()
        for p in peers:
            ident = (p.interface, p.public_key)
            if ident in listed:
                continue  # wg never lists a peer twice on one interface; a bad dump might
            listed.add(ident)
            prev = self._state.get(ident)
            if prev is None and not self._baselined:
                self.counts.baseline += 1
                rx = tx = 0
            elif prev is None:
                self.counts.new_peers += 1
                rx, tx = p.rx_bytes, p.tx_bytes
            elif p.rx_bytes < prev.rx or p.tx_bytes < prev.tx:
                self.counts.resets += 1
                rx, tx = p.rx_bytes, p.tx_bytes
            else:
                rx, tx = p.rx_bytes - prev.rx, p.tx_bytes - prev.tx
            since = prev.seen_wall if prev is not None else last
            self._state[ident] = _Counters(p.rx_bytes, p.tx_bytes, now_wall)
            totals = self._totals.setdefault(p.public_key, [0, 0])
            totals[0] += rx
            totals[1] += tx
            if rx or tx:
                out.append(PeerDelta(p, rx, tx, since))
        if complete:
            for ident in [i for i in self._state if i not in listed]:
                state = self._state[ident]
                state.missed += 1
                if state.missed > self.grace_polls:
                    del self._state[ident]
                    self.counts.forgotten += 1
            # until a listing is known to be complete, a peer seen for the first time may have
            # been missed by an incomplete one: it is baseline, not new
            self._baselined = True
        self._last_wall = now_wall
        return out
