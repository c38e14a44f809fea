"""Which tier answers which part of a time range, so that results are exact.

Each tier holds exact sums for a span (see :class:`~trafficatlas.store.protocol.TierSpan`). A
range is covered greedily from the coarsest usable tier inward: whole days from the 1-day tier,
the hours around them from the 1-hour tier, the minutes at the edges from the finest tier, and
wherever the rollup has not caught up yet, from the finer tier. Segments never overlap, so every
row is counted once.

Boundaries: a bucket is counted in full when it overlaps the requested range, so ``since`` is
rounded down and ``until`` up to the finest resolution still kept at that point (a minute for
recent data, an hour or a day once retention removed the finer rows; both ends widen to the
coarser width when a range lies inside one bucket that is only kept coarsely). Nothing before the
oldest data still kept is reported. The result states the range actually covered, so nothing is
silently cut. Time series use only tiers whose width divides the step; an explicit step finer
than the data kept at the start of the range is an error, an automatic step is coarsened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from trafficatlas.query.errors import QueryError
from trafficatlas.store.protocol import Coverage, TierSpan

TimeLike = int | float | datetime

# Candidate steps for time series (seconds); the smallest giving at most MAX_POINTS wins.
STEPS: tuple[int, ...] = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_POINTS = 800


@dataclass(frozen=True, slots=True)
class Segment:
    tier: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Plan:
    since: int  # range actually covered
    until: int
    segments: tuple[Segment, ...]
    step: int | None = None


def to_epoch(value: TimeLike) -> int:
    """Epoch seconds of a time (naive datetimes are taken as UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() // 1)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(f"not a time: {value!r}")
    return int(value // 1)


def time_range(since: TimeLike | None, until: TimeLike | None) -> tuple[int, int]:
    """(since, until) in epoch seconds; defaults: the last 24 hours."""
    end = to_epoch(until) if until is not None else int(time.time())
    start = to_epoch(since) if since is not None else end - 86_400
    if end <= start:
        raise QueryError("'until' must be later than 'since'")
    return start, end


def _floor(v: int, w: int) -> int:
    return v - v % w


def _ceil(v: int, w: int) -> int:
    return -_floor(-v, w)


def _nonempty(t: TierSpan) -> bool:
    return t.end is None or t.start < t.end


def _cover(lo: int, hi: int, coarse_first: list[TierSpan]) -> list[Segment] | None:
    """Segments covering [lo, hi) exactly, or None when the tiers cannot."""
    if lo >= hi:
        return []
    if not coarse_first:
        return None
    t, finer = coarse_first[0], coarse_first[1:]
    if not finer:
        inside = t.start <= lo and (t.end is None or hi <= t.end)
        if inside and lo % t.width == 0 and hi % t.width == 0:
            return [Segment(t.name, lo, hi)]
        return None
    s = max(_ceil(lo, t.width), t.start)
    e = _floor(hi, t.width) if t.end is None else min(_floor(hi, t.width), t.end)
    if s >= e:
        return _cover(lo, hi, finer)
    left, right = _cover(lo, s, finer), _cover(e, hi, finer)
    if left is None or right is None:
        return None
    return [*left, Segment(t.name, s, e), *right]


def _earliest(coverage: Coverage) -> int:
    return min(t.start for t in coverage.tiers if _nonempty(t))


def _resolution_at(coverage: Coverage, point: int) -> int | None:
    for t in coverage.tiers:  # finest first
        if t.holds(point):
            return t.width
    return None


def plan_range(coverage: Coverage, since: int, until: int) -> Plan:
    """Segments for totals and top-N over [since, until) (no time resolution needed)."""
    earliest = _earliest(coverage)
    if until <= earliest:
        return Plan(since, until, ())
    start = max(since, earliest)
    res_a = _resolution_at(coverage, start) or coverage.interval_s
    res_b = _resolution_at(coverage, until - 1) or coverage.interval_s
    tiers = [t for t in reversed(coverage.tiers) if _nonempty(t)]
    # Round each end to the resolution kept there; when a partial coarse bucket makes that
    # impossible (e.g. a range inside one day that is only kept as a day), widen both ends.
    for width in sorted({t.width for t in coverage.tiers}):
        a = max(_floor(start, max(res_a, width)), earliest)
        b = _ceil(until, max(res_b, width))
        segments = _cover(a, b, tiers)
        if segments is not None:
            return Plan(a, b, tuple(segments))
    raise QueryError(  # pragma: no cover - the store's invariants make this unreachable
        f"the store cannot answer [{since}, {until}) exactly (tier spans {coverage})"
    )


def plan_series(coverage: Coverage, since: int, until: int, step: int) -> Plan:
    """Segments for a time series at ``step`` seconds (raises QueryError if not exact)."""
    interval = coverage.interval_s
    if step <= 0 or step % interval:
        raise QueryError(f"step must be a multiple of the store's interval ({interval} s)")
    usable = [t for t in reversed(coverage.tiers) if _nonempty(t) and step % t.width == 0]
    earliest = _earliest(coverage)
    a = max(_floor(since, step), _ceil(earliest, step))
    b = _ceil(until, step)
    if a >= b:
        return Plan(_floor(since, step), b, (), step)
    segments = _cover(a, b, usable)
    if segments is None:
        finest_kept = next((t for t in coverage.tiers if t.holds(a)), coverage.tiers[-1])
        raise QueryError(
            f"a {step} s step needs data finer than is kept at the start of the range "
            f"(only {finest_kept.width} s buckets remain there); use a step of at least "
            f"{finest_kept.width} s or a later start"
        )
    return Plan(a, b, tuple(segments), step)


def choose_step(coverage: Coverage, since: int, until: int) -> Plan:
    """The finest candidate step with at most MAX_POINTS buckets that the tiers answer exactly."""
    candidates = [s for s in STEPS if s % coverage.interval_s == 0] or [coverage.interval_s]
    for step in candidates[:-1]:
        try:
            plan = plan_series(coverage, since, until, step)
        except QueryError:
            continue
        if (plan.until - plan.since) // step <= MAX_POINTS:
            return plan
    # The coarsest step answers any range; beyond MAX_POINTS of them, all are returned.
    return plan_series(coverage, since, until, candidates[-1])
