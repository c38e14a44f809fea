"""Delta accounting of conntrack counters: per-connection byte/packet deltas as flow rows.

Connections are keyed by their original tuple and zone (``/proc`` shows no conntrack id; where an
id is known on both sides, a different id means a new connection). The rules:

- entries seen in the first poll are a baseline: their earlier counters are not counted;
- an entry first seen in a later poll is a new connection and counts from zero;
- a counter that went down (or a changed id) is a new connection and counts from zero;
- a DESTROY event contributes its final counters minus the last seen ones, once: the entry leaves
  the state, and a snapshot read while the event arrived does not bring it back (tombstone);
- an entry missing from a snapshot is kept for ``grace_polls`` more polls (a late DESTROY or a
  listing race), then dropped and counted as vanished.

Each connection delta gives up to two unidirectional rows: original direction (initiator →
responder) and reply direction (reply tuple: responder → initiator, post-NAT), with
:class:`NatAddresses` carrying the other tuple's addresses for the classify stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.classify.nat import NatAddresses
from trafficatlas.flowbatch import FlowBatch
from trafficatlas.sources.conntrack_metrics import ConntrackMetrics
from trafficatlas.sources.conntrack_parse import (
    EVENT_DESTROY,
    EVENT_NONE,
    ICMP_PROTOCOLS,
    ConntrackTable,
)

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
IDX = npt.NDArray[np.intp]

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(slots=True)
class ConntrackFlows:
    """Flow rows of one poll and the NAT view of each row."""

    flows: FlowBatch
    nat: NatAddresses

    def __len__(self) -> int:
        return len(self.flows)

    @classmethod
    def empty(cls) -> ConntrackFlows:
        return cls(FlowBatch.empty(0), NatAddresses.untranslated(FlowBatch.empty(0)))

    @classmethod
    def concat(cls, parts: list[ConntrackFlows]) -> ConntrackFlows:
        """Rows of all parts in order."""
        if not parts:
            return cls.empty()
        return cls(
            FlowBatch.concat([p.flows for p in parts]),
            NatAddresses.concat([p.nat for p in parts]),
        )


def connection_keys(t: ConntrackTable) -> tuple[U64, U64]:
    """A 64-bit hash per row and the (n, 5) key words it was computed from."""
    meta = (
        (t.family.astype(np.uint64) << np.uint64(56))
        | (t.proto.astype(np.uint64) << np.uint64(48))
        | (t.zone.astype(np.uint64) << np.uint64(32))
        | (t.orig_sport.astype(np.uint64) << np.uint64(16))
        | t.orig_dport.astype(np.uint64)
    )
    words = np.stack([t.orig_src_hi, t.orig_src_lo, t.orig_dst_hi, t.orig_dst_lo, meta], axis=1)
    h = np.full(len(t), _GOLDEN, dtype=np.uint64)
    for i in range(words.shape[1]):  # splitmix64-style mixing of each word into the hash
        h = (h ^ words[:, i]) * _MIX1
        h ^= h >> np.uint64(31)
    h = (h ^ (h >> np.uint64(30))) * _MIX2
    h ^= h >> np.uint64(31)
    return h, words


def _counters(t: ConntrackTable, rows: IDX | None = None) -> U64:
    cols = [t.orig_packets, t.orig_bytes, t.reply_packets, t.reply_bytes]
    has = t.has_counters
    if rows is not None:
        cols, has = [c[rows] for c in cols], has[rows]
    cur = np.stack(cols, axis=1)
    return np.where(has[:, None], cur, np.uint64(0))


def _hash_order(h: U64) -> IDX:
    """Indices sorting ``h``; equal hashes keep their input order."""
    order = np.argsort(h)  # much faster than a stable sort; only duplicates need stability
    hs = h[order]
    if (hs[1:] == hs[:-1]).any():
        order = np.argsort(h, kind="stable")
    return order


@dataclass(slots=True)
class _State:
    """Known connections, sorted by hash."""

    hash: U64
    key: U64  # (n, 5)
    counters: U64  # (n, 4): orig packets, orig bytes, reply packets, reply bytes
    ct_id: U32
    has_id: B
    missed: U8  # polls in a row the entry was not listed
    seen_wall: F64  # when its counters were last read (epoch seconds)

    @classmethod
    def empty(cls) -> _State:
        return cls(
            np.zeros(0, np.uint64),
            np.zeros((0, 5), np.uint64),
            np.zeros((0, 4), np.uint64),
            np.zeros(0, np.uint32),
            np.zeros(0, bool),
            np.zeros(0, np.uint8),
            np.zeros(0, np.float64),
        )

    def take(self, index: npt.NDArray[Any]) -> _State:
        return _State(
            self.hash[index],
            np.take(self.key, index, axis=0) if index.dtype != np.bool_ else self.key[index],
            np.take(self.counters, index, axis=0)
            if index.dtype != np.bool_
            else self.counters[index],
            self.ct_id[index],
            self.has_id[index],
            self.missed[index],
            self.seen_wall[index],
        )

    @classmethod
    def merge(cls, a: _State, b: _State) -> _State:
        """Both states' entries, sorted by hash (their hashes are disjoint)."""
        if not len(b.hash) and bool((a.hash[1:] >= a.hash[:-1]).all()):
            return a  # nothing carried over and already sorted: no re-sort of the whole state
        merged = cls(
            np.concatenate([a.hash, b.hash]),
            np.concatenate([a.key, b.key]),
            np.concatenate([a.counters, b.counters]),
            np.concatenate([a.ct_id, b.ct_id]),
            np.concatenate([a.has_id, b.has_id]),
            np.concatenate([a.missed, b.missed]),
            np.concatenate([a.seen_wall, b.seen_wall]),
        )
        return merged.take(np.argsort(merged.hash))  # disjoint hashes: no need for stability

    def lookup(self, h: U64, key: U64) -> _Match:
        """Where each hash sits in the state, and that entry's values (zeros when absent)."""
        n = len(h)
        if not len(self.hash):
            z = np.zeros(n, dtype=bool)
            return _Match(
                np.zeros(n, np.intp),
                z,
                z,
                np.zeros((n, 4), np.uint64),
                np.zeros(n, np.uint32),
                z,
                np.zeros(n, np.float64),
            )
        pos = np.minimum(np.searchsorted(self.hash, h), len(self.hash) - 1)
        found = self.hash[pos] == h
        same = found & (np.take(self.key, pos, axis=0) == key).all(axis=1)
        return _Match(
            pos,
            found,
            same,
            np.where(found[:, None], np.take(self.counters, pos, axis=0), np.uint64(0)),
            self.ct_id[pos],
            found & self.has_id[pos],
            self.seen_wall[pos],
        )


@dataclass(slots=True)
class _Match:
    pos: IDX
    found: B
    same_key: B
    counters: U64
    ct_id: U32
    has_id: B
    seen_wall: F64

    def changed(self, ct_id: U32, has_id: B, cur: U64, rows: B) -> B:
        """Rows whose entry is a different connection: another tuple, lower counters, new id."""
        changed: B = rows & (
            ~self.same_key
            | (cur < self.counters).any(axis=1)
            | (has_id & self.has_id & (ct_id != self.ct_id))
        )
        return changed


class ConntrackAccounting:
    """Turns successive conntrack snapshots and DESTROY events into flow deltas."""

    def __init__(
        self, metrics: ConntrackMetrics | None = None, grace_polls: int = 1, exporter: int = 0
    ) -> None:
        self.metrics = metrics if metrics is not None else ConntrackMetrics()
        self.grace_polls = grace_polls
        self.exporter = exporter
        self._state = _State.empty()
        self._baselined = False
        self._last_poll_wall: float | None = None

    @property
    def baselined(self) -> bool:
        """True once the first snapshot has been taken as the baseline."""
        return self._baselined

    def __len__(self) -> int:
        return len(self._state.hash)

    def cycle(
        self,
        snapshot: ConntrackTable,
        *,
        read_start: float,
        now_mono: float,
        now_wall: float,
        events: ConntrackTable | None = None,
        arrivals: F64 | None = None,
    ) -> ConntrackFlows:
        """One poll: the events drained since the last poll, then the snapshot.

        ``read_start``, ``now_mono`` and ``arrivals`` (one per event row) are monotonic seconds;
        ``read_start`` is when the snapshot read began. ``now_wall`` stamps the rows.
        """
        parts: list[ConntrackFlows] = []
        tombstones = np.zeros(0, dtype=np.uint64)
        if events is not None and len(events):
            if arrivals is None or len(arrivals) != len(events):
                raise ValueError("arrivals must give one time per event row")
            flows, tombstones = self._destroys(events, arrivals, read_start, now_mono, now_wall)
            parts.append(flows)
        parts.append(self._snapshot(snapshot, tombstones, now_wall))
        return ConntrackFlows.concat(parts)

    # -- events ------------------------------------------------------------------------------

    def _destroys(
        self,
        events: ConntrackTable,
        arrivals: F64,
        read_start: float,
        now_mono: float,
        now_wall: float,
    ) -> tuple[ConntrackFlows, U64]:
        sel = np.flatnonzero(events.event == EVENT_DESTROY)
        order = sel[np.argsort(arrivals[sel], kind="stable")]
        ev = events.take(order)
        arrived = arrivals[order]
        self.metrics.events += len(ev)
        h, key = connection_keys(ev)
        # a DESTROY that arrived once the read had begun may describe an entry the read listed
        tombstones = h[arrived >= read_start]
        if not self._baselined:
            self.metrics.events_before_baseline += len(ev)
            return ConntrackFlows.empty(), tombstones
        first = np.zeros(len(ev), dtype=bool)
        first[np.unique(h, return_index=True)[1]] = True  # a reused tuple: only the first matches
        m = self._state.lookup(h, key)
        matched = first & m.found
        cur = _counters(ev)
        reset = m.changed(ev.ct_id, ev.has_id, cur, matched)
        prev = np.where((matched & ~reset)[:, None], m.counters, np.uint64(0))
        fresh = ~matched | reset
        ts = np.where(np.isnan(ev.ts), now_wall - (now_mono - arrived), ev.ts)
        last = self._last_poll_wall if self._last_poll_wall is not None else now_wall
        ts_start = np.where(matched & ~reset, m.seen_wall, last)
        self.metrics.destroyed += int(matched.sum())
        self.metrics.destroyed_unseen += int((~matched).sum())
        self.metrics.resets += int(reset.sum())
        if matched.any():
            keep = np.ones(len(self._state.hash), dtype=bool)
            keep[m.pos[matched]] = False
            self._state = self._state.take(keep)
        flows = self._emit(ev, None, prev, cur, fresh & ~ev.has_counters, ts, ts_start)
        return flows, tombstones

    # -- snapshots ---------------------------------------------------------------------------

    def _snapshot(
        self, snapshot: ConntrackTable, tombstones: U64, now_wall: float
    ) -> ConntrackFlows:
        t = snapshot.take(np.flatnonzero(snapshot.event == EVENT_NONE))
        self.metrics.entries = len(t)
        h, key = connection_keys(t)
        order = _hash_order(h)
        hs = h[order]
        last = np.ones(len(hs), dtype=bool)
        last[:-1] = hs[:-1] != hs[1:]  # a doubly listed entry: keep its later line
        self.metrics.duplicates += int((~last).sum())
        keep = order[last]
        if len(tombstones):
            stale = np.isin(h[keep], tombstones)
            self.metrics.stale_ignored += int(stale.sum())
            keep = keep[~stale]
        # rows in hash order; only what every row needs is gathered (_emit takes its few rows)
        h, key = h[keep], np.take(key, keep, axis=0)
        ct_id, has_id, has_counters = t.ct_id[keep], t.has_id[keep], t.has_counters[keep]

        state = self._state
        m = state.lookup(h, key)
        found = m.found
        cur = _counters(t, keep)
        prev = m.counters
        reset = m.changed(ct_id, has_id, cur, found)
        new = ~found
        self.metrics.resets += int(reset.sum())
        last_wall = self._last_poll_wall if self._last_poll_wall is not None else now_wall
        if self._baselined:
            prev = np.where((reset | new)[:, None], np.uint64(0), prev)
            ts_start = np.where(found & ~reset, m.seen_wall, last_wall)
            count_flow = (new | reset) & ~has_counters
            out = self._emit(t, keep, prev, cur, count_flow, np.full(len(keep), now_wall), ts_start)
        else:
            self.metrics.baseline += len(keep)
            out = ConntrackFlows.empty()

        # carry unlisted entries for grace_polls polls (a late DESTROY still finds them)
        listed = np.zeros(len(state.hash), dtype=bool)
        listed[m.pos[found]] = True
        carry = state.take(~listed)
        carry.missed = carry.missed + np.uint8(1)
        gone = carry.missed > self.grace_polls
        self.metrics.vanished += int(gone.sum())
        carry = carry.take(~gone)
        n = len(keep)
        fresh = _State(h, key, cur, ct_id, has_id, np.zeros(n, np.uint8), np.full(n, now_wall))
        self._state = _State.merge(fresh, carry)
        self.metrics.tracked = len(self._state.hash)
        self._baselined = True
        self._last_poll_wall = now_wall
        return out

    # -- output ------------------------------------------------------------------------------

    def _emit(
        self,
        t: ConntrackTable,
        rows: IDX | None,
        prev: U64,
        cur: U64,
        count_flow: B,
        ts: F64,
        ts_start: F64,
    ) -> ConntrackFlows:
        """Rows for the non-zero deltas; a direction's first packets make it a new flow.

        Delta i belongs to table row ``rows[i]`` (row i when ``rows`` is None).
        """
        delta = cur - prev
        flow_o = ((cur[:, 0] > 0) & (prev[:, 0] == 0)) | count_flow
        flow_r = (cur[:, 2] > 0) & (prev[:, 2] == 0)
        io = np.flatnonzero((delta[:, 0] > 0) | (delta[:, 1] > 0) | flow_o)
        ir = np.flatnonzero((delta[:, 2] > 0) | (delta[:, 3] > 0) | flow_r)
        self.metrics.deltas += len(np.union1d(io, ir))
        n = len(io) + len(ir)
        self.metrics.flows_emitted += n
        if not n:
            return ConntrackFlows.empty()
        to, tr = (io, ir) if rows is None else (rows[io], rows[ir])  # their table rows
        icmp = np.isin(t.proto, ICMP_PROTOCOLS)

        def both(o: npt.NDArray[Any], r: npt.NDArray[Any]) -> npt.NDArray[Any]:
            """Table columns for the original and reply rows."""
            return np.concatenate([o[to], r[tr]])

        def deltas(o: npt.NDArray[Any], r: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return np.concatenate([o[io], r[ir]])

        zero16 = np.zeros(len(t), dtype=np.uint16)
        flows = FlowBatch.from_columns(
            n,
            ts=deltas(ts, ts),
            ts_start=deltas(ts_start, ts_start),
            exporter=self.exporter,
            ip_version=both(t.family, t.family),
            proto=both(t.proto, t.proto),
            src_hi=both(t.orig_src_hi, t.reply_src_hi),
            src_lo=both(t.orig_src_lo, t.reply_src_lo),
            dst_hi=both(t.orig_dst_hi, t.reply_dst_hi),
            dst_lo=both(t.orig_dst_lo, t.reply_dst_lo),
            # ICMP keeps type/code in dport; its echo id is not a port
            sport=both(np.where(icmp, zero16, t.orig_sport), np.where(icmp, zero16, t.reply_sport)),
            dport=both(t.orig_dport, t.reply_dport),
            bytes=deltas(delta[:, 1], delta[:, 3]),
            packets=deltas(delta[:, 0], delta[:, 2]),
            flows=deltas(flow_o, flow_r).astype(np.uint32),
        )
        nat = NatAddresses(
            xsrc_hi=both(t.reply_dst_hi, t.orig_dst_hi),
            xsrc_lo=both(t.reply_dst_lo, t.orig_dst_lo),
            xdst_hi=both(t.reply_src_hi, t.orig_src_hi),
            xdst_lo=both(t.reply_src_lo, t.orig_src_lo),
            reply=np.concatenate([np.zeros(len(io), bool), np.ones(len(ir), bool)]),
        )
        return ConntrackFlows(flows, nat)
