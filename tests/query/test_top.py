"""top() and totals(): hand-computed answers, filters, limits, attributes, tier boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trafficatlas.query import Filters, QueryError, top, totals
from trafficatlas.store.duckdb_store import DuckDBStore

from support.storedata import BASE, DAY, HOUR, open_store, random_rows, reference

SINCE, UNTIL = BASE, BASE + HOUR


def _bytes(result: object) -> list[tuple[object, ...]]:
    return [(tuple(r.key.values()), r.bytes) for r in result.rows]  # type: ignore[attr-defined]


def test_top_countries_hand_computed(hand_store: DuckDBStore) -> None:
    res = top(hand_store, ["country"], Filters(), None, SINCE, UNTIL)
    assert [(r.key, r.bytes, r.bytes_sent, r.bytes_received) for r in res.rows] == [
        ({"country": "US"}, 200, 200, 0),
        ({"country": "CH"}, 150, 100, 50),
        ({"country": "DE"}, 60, 30, 30),
        ({"country": ""}, 5, 0, 0),
    ]
    assert res.rows[0].percent == pytest.approx(100 * 200 / 415)
    assert res.rows[1].cumulative_percent == pytest.approx(100 * 350 / 415)
    assert res.rows[-1].cumulative_percent == pytest.approx(100.0)
    assert res.totals.model_dump() == {
        "bytes": 415,
        "packets": 79,
        "flows": 7,
        "bytes_sent": 330,
        "bytes_received": 80,
    }
    assert res.groups == 4 and res.other is None and res.limit is None
    assert res.rows[1].attrs == {"country_name": "Switzerland"}
    assert [s.tier for s in res.segments] == ["1m"]


def test_limit_reports_an_other_row(hand_store: DuckDBStore) -> None:
    res = top(hand_store, ["country"], Filters(), 2, SINCE, UNTIL)
    assert _bytes(res) == [(("US",), 200), (("CH",), 150)]
    assert res.other is not None and res.other.bytes == 65 and res.other.rank == 0
    assert res.other_groups == 2 and res.groups == 4 and res.limit == 2
    assert res.other.bytes_sent == 30 and res.other.bytes_received == 30
    assert res.other.percent == pytest.approx(100 * 65 / 415)
    assert res.totals.bytes == 415
    assert top(hand_store, ["country"], Filters(), 4, SINCE, UNTIL).other is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(peer=["alice"]), [(("CH",), 150), (("DE",), 30)]),
        (Filters(direction=["sent"]), [(("US",), 200), (("CH",), 100), (("DE",), 30)]),
        (Filters(direction=[2]), [(("CH",), 50), (("DE",), 30)]),
        (Filters(ip_version=[6]), [(("DE",), 30)]),
        (Filters(proto=[17]), [(("DE",), 60)]),
        (Filters(interface=["wg1"]), [(("US",), 200), (("DE",), 30), (("",), 5)]),
        (Filters(country=["de", "ch"], peer=["bob"]), [(("DE",), 30)]),
        (Filters(asn=[3320]), [(("DE",), 60)]),
        (Filters(label=["LOCAL"]), [(("",), 5)]),
        (Filters(exporter=["10.0.0.1"]), []),
        (Filters(country=["x' OR 1=1 --"]), []),  # bound, never spliced into SQL
    ],
)
def test_filters(
    hand_store: DuckDBStore, filters: Filters, expected: list[tuple[object, ...]]
) -> None:
    res = top(hand_store, ["country"], filters, None, SINCE, UNTIL)
    assert _bytes(res) == expected
    assert res.totals.bytes == sum(b for _, b in expected)


def test_dimensions_and_their_attributes(hand_store: DuckDBStore) -> None:
    res = top(hand_store, ["asn"], Filters(country=["DE"]), None, SINCE, UNTIL)
    assert [(r.key, r.attrs) for r in res.rows] == [({"asn": 3320}, {"as_org": "Deutsche Telekom"})]
    cities = top(hand_store, ["city"], Filters(), None, SINCE, UNTIL)
    assert [(r.key["country"], r.key["city"], r.bytes) for r in cities.rows] == [
        ("US", "", 200),
        ("CH", "Zurich", 150),
        ("DE", "", 30),  # tie broken by key
        ("DE", "Berlin", 30),
        ("", "", 5),
    ]
    assert cities.rows[1].attrs["lat"] == 47.37 and cities.rows[2].attrs["lat"] is None
    peers = top(hand_store, ["peer", "direction"], Filters(), None, SINCE, UNTIL)
    assert peers.rows[0].key == {"peer": "bob", "direction": 1}
    assert peers.rows[0].attrs == {"peer_name": "bob", "direction_name": "outbound"}
    alice = next(r for r in peers.rows if r.key["peer"] == "alice")
    assert alice.attrs["peer_name"] == "Alice's laptop"
    by_packets = top(hand_store, ["country"], Filters(), 1, SINCE, UNTIL, order_by="packets")
    assert by_packets.rows[0].key == {"country": "DE"} and by_packets.rows[0].packets == 43
    for dim in ("exporter", "interface", "proto", "ip_version", "source", "label"):
        assert top(hand_store, [dim], Filters(), None, SINCE, UNTIL).totals.bytes == 415


def test_bad_parameters_are_query_errors(hand_store: DuckDBStore) -> None:
    with pytest.raises(QueryError, match="unknown dimension 'planet'"):
        top(hand_store, ["planet"], Filters(), None, SINCE, UNTIL)
    with pytest.raises(QueryError, match="unknown dimension 'remote_addr'"):
        top(hand_store, ["remote_addr"], Filters(), None, SINCE, UNTIL)
    with pytest.raises(QueryError, match="limit"):
        top(hand_store, ["country"], Filters(), 0, SINCE, UNTIL)
    with pytest.raises(QueryError, match="later than"):
        top(hand_store, ["country"], Filters(), None, UNTIL, SINCE)
    with pytest.raises(ValueError, match="direction"):
        Filters(direction=["sideways"])


def test_totals_and_empty_ranges(hand_store: DuckDBStore) -> None:
    assert totals(hand_store, Filters(), SINCE, UNTIL).totals.bytes == 415
    empty = totals(hand_store, Filters(), BASE - DAY, BASE - HOUR)
    assert empty.totals.bytes == 0 and empty.rows == []
    assert top(hand_store, ["country"], Filters(), 3, BASE + DAY, BASE + 2 * DAY).rows == []


@pytest.fixture
def three_days(tmp_path: Path) -> tuple[DuckDBStore, list[object]]:
    rng = np.random.default_rng(11)
    parts = [random_rows(rng, BASE + d * DAY, 1440, 3) for d in range(3)]
    store = open_store(tmp_path / "s.duckdb", retention_1m="1d")
    for part in parts:
        store.write(part)
    store.run_maintenance(now=BASE + 3 * DAY + 30 * 60)
    return store, parts


RANGES = [
    (BASE + 7 * 60 + 13, BASE + 3 * DAY),  # almost all: 1h, 1d, 1h, 1m
    (BASE + 5 * HOUR + 1, BASE + 2 * DAY + 3 * HOUR + 17 * 60 + 5),  # beyond 1m retention
    (BASE + 2 * DAY + 23 * HOUR + 59 * 60, BASE + 3 * DAY),  # the last minute of the 1m tier
    (BASE + 2 * DAY + 1234, BASE + 2 * DAY + 5678),  # where 1m and 1h both hold data
    (BASE + DAY - 10, BASE + DAY + 10),
]


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_exact_across_tier_boundaries(
    three_days: tuple[DuckDBStore, list[object]], since: int, until: int
) -> None:
    store, parts = three_days
    with store:
        res = top(store, ["country", "direction"], Filters(peer=["peer-a"]), None, since, until)
        assert res.since <= since and res.until >= until
        want = reference(parts, res.since, res.until, ["country", "direction"], peer=["peer-a"])  # type: ignore[arg-type]
        got = {
            tuple(r.key.values()): [r.bytes, r.packets, r.flows, r.bytes_sent, r.bytes_received]
            for r in res.rows
        }
        assert got == want
        limited = top(store, ["asn"], Filters(), 2, since, until)
        assert limited.totals.bytes == sum(
            v[0] for v in reference(parts, res.since, res.until, []).values()
        )  # type: ignore[arg-type]


def test_resolution_at_the_edges_is_reported(three_days: tuple[DuckDBStore, list[object]]) -> None:
    store, _ = three_days
    with store:
        recent = top(store, [], Filters(), None, BASE + 2 * DAY + 12 * HOUR + 30, BASE + 3 * DAY)
        assert recent.since == BASE + 2 * DAY + 12 * HOUR  # 1m kept: minute resolution
        old = top(store, [], Filters(), None, BASE + 5 * HOUR + 30, BASE + DAY)
        assert old.since == BASE + 5 * HOUR  # only hours kept there
        assert {s.tier for s in old.segments} <= {"1h", "1d"}
