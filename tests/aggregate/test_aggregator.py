import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trafficatlas.aggregate.aggregator import (
    Aggregator,
    AggregatorSettings,
    merge,
    rows_from_columns,
)
from trafficatlas.aggregate.groupby import group_sum
from trafficatlas.aggregate.rows import AggregateRows


def test_group_sum_is_exact_for_uint64() -> None:
    big = np.uint64(2**63)
    keys = {"k": np.array(["a", "a", "b"], dtype=object)}
    _, vals = group_sum(keys, {"bytes": np.array([big, np.uint64(1), np.uint64(7)], np.uint64)})
    assert [int(x) for x in vals["bytes"]] == [2**63 + 1, 7]


def test_rows_from_columns_matches_hand_computed() -> None:
    # three flows in minute 0 (two share a key), one in minute 1
    rows = rows_from_columns(
        60,
        ts=np.array([5.0, 59.9, 30.0, 61.0]),
        source="netflow",
        peer=np.array(["p1", "p1", "p2", "p1"], dtype=object),
        country=np.array(["US", "US", "CH", "US"], dtype=object),
        asn=np.array([15169, 15169, 3303, 15169], np.uint32),
        direction=np.array([1, 1, 2, 1], np.uint8),
        bytes=np.array([100, 50, 7, 1], np.uint64),
        packets=np.array([2, 1, 1, 1], np.uint64),
        as_orgs={15169: "Google LLC"},
    )
    got = {
        (int(t), p, c, int(a)): (int(b), int(k), int(f))
        for t, p, c, a, b, k, f in zip(
            rows.ts,
            rows.peer,
            rows.country,
            rows.asn,
            rows.bytes,
            rows.packets,
            rows.flows,
            strict=True,
        )
    }
    assert got == {
        (0, "p1", "US", 15169): (150, 3, 2),
        (0, "p2", "CH", 3303): (7, 1, 1),
        (60, "p1", "US", 15169): (1, 1, 1),
    }
    assert set(rows.source) == {"netflow"}
    assert rows.as_orgs == {15169: "Google LLC"}


def test_aggregator_releases_closed_buckets_only() -> None:
    agg = Aggregator(AggregatorSettings(interval_s=60, grace_s=5))
    agg.add(rows_from_columns(60, ts=np.array([10.0, 70.0]), bytes=np.array([1, 2], np.uint64)))
    agg.add(rows_from_columns(60, ts=np.array([20.0]), bytes=np.array([4], np.uint64)))
    out = agg.flush(now=64.0)  # bucket 0 ends at 60, +5 s grace: not yet
    assert len(out) == 0
    out = agg.flush(now=66.0)
    assert [(int(t), int(b)) for t, b in zip(out.ts, out.bytes, strict=True)] == [(0, 5)]
    assert agg.pending() == 1
    # a late row for bucket 0 is still released (the store sums it in) and counted
    agg.add(rows_from_columns(60, ts=np.array([30.0]), bytes=np.array([9], np.uint64)))
    assert agg.late_rows == 1
    rest = agg.flush(now=0, force=True)
    assert sorted((int(t), int(b)) for t, b in zip(rest.ts, rest.bytes, strict=True)) == [
        (0, 9),
        (60, 2),
    ]


def test_merge_sums_duplicate_keys() -> None:
    a = AggregateRows.build(2, ts=[0, 0], country=["US", "US"], bytes=[1, 2], packets=1, flows=1)
    m = merge(a)
    assert len(m) == 1
    assert m.totals() == {"bytes": 3, "packets": 2, "flows": 2}


@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["", "US", "CH", "b", "a", "é"])), max_size=60)
)
@settings(max_examples=200, deadline=None)
def test_text_factorize_matches_sorting_the_text(values: list[str | None]) -> None:
    from trafficatlas.aggregate.groupby import factorize

    col = np.array(values, dtype=object)
    codes, uniq = factorize(col)
    text = ["" if v is None else v for v in values]
    want_uniq, want_codes = (
        np.unique(np.array(text, dtype=str), return_inverse=True) if values else ([], [])
    )
    assert list(uniq) == list(want_uniq)
    assert list(codes) == list(np.asarray(want_codes).ravel())
