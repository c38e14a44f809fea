"""Tier planning: exact, non-overlapping cover of a range by tiers (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trafficatlas.query import QueryError, to_epoch
from trafficatlas.query.plan import Plan, choose_step, plan_range, plan_series, time_range
from trafficatlas.store.protocol import Coverage, TierSpan

H, D = 3_600, 86_400
NOW = 1_800_000_000 - 1_800_000_000 % D + 13 * H + 17 * 60  # 13:17 UTC


def coverage(lo_1m: int, wm_1h: int, lo_1h: int, wm_1d: int, lo_1d: int = 0) -> Coverage:
    return Coverage(
        (
            TierSpan("1m", 60, lo_1m, None),
            TierSpan("1h", H, lo_1h, wm_1h),
            TierSpan("1d", D, lo_1d, wm_1d),
        )
    )


# A store running for months with default retention: 1m kept 7 d, 1h kept 90 d.
STEADY = coverage(
    lo_1m=NOW - NOW % H - 7 * D,
    wm_1h=NOW - NOW % H - H,
    lo_1h=NOW - NOW % D - 90 * D,
    wm_1d=NOW - NOW % D,
)


def _check(plan: Plan, cov: Coverage) -> None:
    spans = {t.name: t for t in cov.tiers}
    pos = plan.since
    for seg in plan.segments:
        assert seg.start == pos and seg.start < seg.end
        tier = spans[seg.tier]
        assert seg.start % tier.width == 0 and seg.end % tier.width == 0
        assert tier.holds(seg.start) and tier.holds(seg.end - 1)
        pos = seg.end
    assert not plan.segments or pos == plan.until


def test_fresh_store_answers_from_the_finest_tier() -> None:
    cov = coverage(0, 0, 0, 0)
    plan = plan_range(cov, NOW - D + 30, NOW)
    assert plan.segments[0].tier == "1m" and len(plan.segments) == 1
    assert (plan.since, plan.until) == (NOW - D, NOW)  # minute-aligned outward


def test_thirty_days_use_days_hours_and_minutes() -> None:
    plan = plan_range(STEADY, NOW - 30 * D, NOW)
    _check(plan, STEADY)
    assert [s.tier for s in plan.segments] == ["1h", "1d", "1h", "1m"]
    assert plan.since == NOW - 30 * D - (NOW % H)  # beyond 1m retention: hour resolution
    assert plan.until == NOW


def test_range_older_than_hour_retention_snaps_to_days() -> None:
    start = NOW - 120 * D + 5 * H
    plan = plan_range(STEADY, start, NOW - 100 * D + 7 * H)
    _check(plan, STEADY)
    assert plan.since == start - start % D
    assert plan.until % D == 0 and {s.tier for s in plan.segments} == {"1d"}


def test_range_before_any_data_is_empty_and_clamped() -> None:
    cov = coverage(NOW - D, NOW - D, NOW - D, NOW - D, lo_1d=NOW - D)
    assert plan_range(cov, NOW - 10 * D, NOW - 5 * D).segments == ()
    plan = plan_range(cov, NOW - 10 * D, NOW)
    assert plan.since == NOW - D - (NOW - D) % 60 and plan.segments


def test_series_steps_use_only_dividing_tiers() -> None:
    plan = plan_series(STEADY, NOW - D, NOW, 300)
    _check(plan, STEADY)
    assert {s.tier for s in plan.segments} == {"1m"}
    plan = plan_series(STEADY, NOW - 30 * D, NOW, H)
    _check(plan, STEADY)
    assert {s.tier for s in plan.segments} == {"1h", "1m"}
    plan = plan_series(STEADY, NOW - 60 * D, NOW, D)
    assert plan.segments[0].tier == "1d" and plan.since % D == 0


def test_series_step_finer_than_kept_data_is_an_error() -> None:
    with pytest.raises(QueryError, match="at least 3600 s"):
        plan_series(STEADY, NOW - 30 * D, NOW, 300)
    with pytest.raises(QueryError, match="multiple of the store's interval"):
        plan_series(STEADY, NOW - D, NOW, 90)


def test_choose_step_keeps_points_bounded_and_exact() -> None:
    assert choose_step(STEADY, NOW - H, NOW).step == 60
    assert choose_step(STEADY, NOW - D, NOW).step == 300
    assert choose_step(STEADY, NOW - 7 * D, NOW).step == 900
    assert choose_step(STEADY, NOW - 30 * D, NOW).step == H  # 720 points
    assert choose_step(STEADY, NOW - 90 * D, NOW).step == 3 * H
    long = choose_step(STEADY, NOW - 3 * 365 * D, NOW)
    assert long.step == D and (long.until - long.since) // D > 800  # never truncated


def test_time_inputs() -> None:
    assert to_epoch(datetime(2027, 1, 15, tzinfo=UTC)) == 1_799_971_200
    assert to_epoch(datetime(2027, 1, 15)) == 1_799_971_200  # naive = UTC
    assert to_epoch(1.9) == 1
    with pytest.raises(QueryError):
        to_epoch("yesterday")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="later than"):
        time_range(NOW, NOW)


@st.composite
def coverages(draw: st.DrawFn) -> Coverage:
    """Spans obeying the store's invariants (retention never passes the next watermark)."""
    wm_1d = draw(st.integers(0, 60)) * D
    wm_1h = wm_1d + draw(st.integers(0, 30)) * H
    lo_1h = draw(st.integers(0, wm_1d // D)) * D
    lo_1m = draw(st.integers(0, wm_1h // H)) * H
    lo_1d = draw(st.integers(0, lo_1h // D)) * D
    return coverage(lo_1m, wm_1h, lo_1h, wm_1d, lo_1d)


@settings(max_examples=300, deadline=None)
@given(coverages(), st.integers(0, 70 * D), st.integers(1, 70 * D))
def test_any_range_is_covered_exactly_once(cov: Coverage, since: int, length: int) -> None:
    plan = plan_range(cov, since, since + length)
    _check(plan, cov)
    if plan.segments:
        assert plan.until >= since + length
        assert plan.since <= max(since, min(t.start for t in cov.tiers if t.end != t.start))


@settings(max_examples=200, deadline=None)
@given(coverages(), st.integers(0, 70 * D), st.integers(1, 70 * D), st.sampled_from([60, H, D]))
def test_any_series_plan_is_exact_or_refused(
    cov: Coverage, since: int, length: int, step: int
) -> None:
    try:
        plan = plan_series(cov, since, since + length, step)
    except QueryError:
        return
    _check(plan, cov)
    assert plan.since % step == 0 and plan.until % step == 0


def test_dimension_types_name_exactly_the_dimensions() -> None:
    from typing import get_args

    from trafficatlas.query.dims import DIMENSIONS, FlowDimension, GroupDimension

    grouped = {n for n, d in DIMENSIONS.items() if not d.flows_only}
    assert set(get_args(GroupDimension)) == grouped
    assert set(get_args(FlowDimension)) == set(DIMENSIONS)
