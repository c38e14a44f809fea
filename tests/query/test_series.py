"""timeseries(): zero-filled buckets, steps, "other" series, exactness across tiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trafficatlas.query import Filters, QueryError, timeseries, top
from trafficatlas.store.duckdb_store import DuckDBStore

from support.storedata import BASE, DAY, HOUR, open_store, random_rows, reference


def test_hand_computed_series_is_zero_filled(hand_store: DuckDBStore) -> None:
    res = timeseries(hand_store, ["country"], Filters(), BASE, BASE + 5 * 60, step=60)
    assert res.timestamps == [BASE + i * 60 for i in range(5)]
    us = res.series[0]
    assert us.key == {"country": "US"} and us.attrs["country_name"] == "United States"
    assert us.bytes == [100, 100, 0, 0, 0]
    assert us.bytes_sent == [100, 100, 0, 0, 0] and us.bytes_received == [0] * 5
    assert [s.key["country"] for s in res.series] == ["US", "CH", "DE", ""]
    assert res.totals.bytes == 415 and res.groups == 4 and res.other is None


def test_limit_sums_the_rest_into_other(hand_store: DuckDBStore) -> None:
    res = timeseries(hand_store, ["country"], Filters(), BASE, BASE + 120, step=60, limit=1)
    assert [s.key for s in res.series] == [{"country": "US"}]
    assert res.other is not None and res.other.bytes == [108, 107]
    assert res.other.totals.bytes == 215 and res.groups == 4 and res.limit == 1
    assert res.totals.bytes == 415


def test_totals_series_without_dimensions(hand_store: DuckDBStore) -> None:
    res = timeseries(hand_store, [], Filters(peer=["alice"]), BASE, BASE + HOUR)
    assert res.step == 60 and len(res.timestamps) == 60  # auto step: 1 h at 1 min
    assert res.series[0].bytes[:3] == [90, 90, 0] and res.series[0].key == {}


def test_no_data_gives_all_zero_buckets(hand_store: DuckDBStore) -> None:
    res = timeseries(hand_store, ["country"], Filters(), BASE + DAY, BASE + DAY + HOUR, 600)
    assert len(res.timestamps) == 6 and res.series == [] and res.totals.bytes == 0


def test_bad_steps(hand_store: DuckDBStore) -> None:
    with pytest.raises(QueryError, match="multiple"):
        timeseries(hand_store, [], Filters(), BASE, BASE + HOUR, step=45)
    with pytest.raises(QueryError, match="limit"):
        timeseries(hand_store, ["country"], Filters(), BASE, BASE + HOUR, limit=0)


@pytest.fixture
def store_3d(tmp_path: Path) -> tuple[DuckDBStore, list[object]]:
    rng = np.random.default_rng(12)
    parts = [random_rows(rng, BASE + d * DAY, 1440, 2) for d in range(3)]
    store = open_store(tmp_path / "s.duckdb", retention_1m="1d")
    for part in parts:
        store.write(part)
    store.run_maintenance(now=BASE + 3 * DAY + 30 * 60)
    return store, parts


@pytest.mark.parametrize(
    ("since", "until", "step"),
    [
        (BASE + 3 * HOUR, BASE + 3 * DAY, HOUR),  # 1h tier, then 1m where not rolled up
        (BASE, BASE + 3 * DAY, DAY),  # days, hours and minutes
        (BASE + 2 * DAY + 7 * HOUR, BASE + 2 * DAY + 9 * HOUR, 300),  # inside the 1m span
    ],
)
def test_series_exact_across_tiers(
    store_3d: tuple[DuckDBStore, list[object]], since: int, until: int, step: int
) -> None:
    store, parts = store_3d
    with store:
        res = timeseries(store, ["peer"], Filters(direction=[1, 2]), since, until, step=step)
        assert res.step == step and res.timestamps[0] == res.since
        for s in res.series:
            for t, got in zip(res.timestamps, s.bytes, strict=True):
                want = reference(parts, t, t + step, [], peer=[s.key["peer"]], direction=[1, 2])  # type: ignore[arg-type]
                assert got == want.get((), [0])[0]
        flat = top(store, [], Filters(direction=[1, 2]), None, res.since, res.until)
        assert res.totals == flat.totals


def test_step_finer_than_retained_data_is_refused(
    store_3d: tuple[DuckDBStore, list[object]],
) -> None:
    store, _ = store_3d
    with store:
        with pytest.raises(QueryError, match="at least 3600 s"):
            timeseries(store, [], Filters(), BASE, BASE + 3 * DAY, step=300)
        auto = timeseries(store, [], Filters(), BASE, BASE + 3 * DAY)
        assert auto.step == 3600  # 72 points, the finest exact step
