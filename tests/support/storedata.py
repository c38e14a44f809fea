"""Aggregated rows for store and query tests, and a brute-force reference to check answers."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.store import StoreSettings
from trafficatlas.store.duckdb_store import DuckDBStore

DAY = 86_400
HOUR = 3_600
BASE = 1_799_971_200  # a UTC midnight (2027-01-15)

PEERS = ("peer-a", "peer-b", "peer-c")
COUNTRIES = ("CH", "DE", "US", "FR", "")
ASNS = (13335, 15169, 3303, 0)
CITIES = ("", "Zurich", "Berlin")


def random_rows(
    rng: np.random.Generator, start: int, minutes: int, per_minute: int
) -> AggregateRows:
    """``per_minute`` rows in each of ``minutes`` minute buckets from ``start``.

    Keys repeat within a minute on purpose (the store must merge them).
    """
    n = minutes * per_minute
    ts = start + np.repeat(np.arange(minutes, dtype=np.int64) * 60, per_minute)
    pick = lambda values: np.array(values, dtype=object)[rng.integers(0, len(values), n)]  # noqa: E731
    return AggregateRows.build(
        n,
        ts=ts,
        source="wireguard",
        interface=pick(("wg0", "wg1")),
        peer=pick(PEERS),
        direction=rng.integers(1, 4, n).astype(np.uint8),
        ip_version=np.where(rng.random(n) < 0.3, 6, 4).astype(np.uint8),
        proto=np.where(rng.random(n) < 0.5, 6, 17).astype(np.uint8),
        country=pick(COUNTRIES),
        city=pick(CITIES),
        asn=np.array(ASNS, dtype=np.uint32)[rng.integers(0, len(ASNS), n)],
        bytes=rng.integers(1, 1_000_000, n).astype(np.uint64),
        packets=rng.integers(1, 1_000, n).astype(np.uint64),
        flows=rng.integers(1, 10, n).astype(np.uint64),
        as_orgs={13335: "Cloudflare", 15169: "Google", 3303: "Swisscom"},
        cities={("CH", "Zurich"): (47.37, 8.54), ("DE", "Berlin"): (52.52, 13.40)},
    )


def split_by_minute(rows: AggregateRows) -> list[AggregateRows]:
    """One flush per distinct ts (rows sorted by ts)."""
    order = np.argsort(rows.ts, kind="stable")
    ts = rows.ts[order]
    cuts = [0, *(np.flatnonzero(np.diff(ts)) + 1).tolist(), len(ts)]
    out = []
    for a, b in itertools.pairwise(cuts):
        idx = order[a:b]
        cols = {name: getattr(rows, name)[idx] for name in AggregateRows.DTYPES}
        out.append(AggregateRows(**cols, as_orgs=rows.as_orgs, cities=rows.cities))
    return out


def reference(
    rows: Iterable[AggregateRows],
    since: int,
    until: int,
    by: Sequence[str],
    **filters: Sequence[object],
) -> dict[tuple[object, ...], list[int]]:
    """Brute force: key tuple → [bytes, packets, flows, sent, received] over [since, until)."""
    out: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for part in rows:
        for i in range(len(part)):
            ts = int(part.ts[i])
            if not since <= ts < until:
                continue
            if any(_value(part, col, i) not in vals for col, vals in filters.items()):
                continue
            key = tuple(_value(part, col, i) for col in by)
            acc = out[key]
            b = int(part.bytes[i])
            acc[0] += b
            acc[1] += int(part.packets[i])
            acc[2] += int(part.flows[i])
            direction = int(part.direction[i])
            acc[3] += b if direction == 1 else 0
            acc[4] += b if direction == 2 else 0
    return dict(out)


def _value(part: AggregateRows, col: str, i: int) -> object:
    v = getattr(part, col)[i]
    return v if isinstance(v, str) else int(v)


# Query tests run against several engines: tests/query/conftest.py installs a factory here
# (settings -> store) while a ClickHouse variant of a test runs.
STORE_FACTORIES: list[Callable[[StoreSettings], Any]] = []


def open_store(path: Path, **settings: object) -> DuckDBStore:
    """A DuckDB store at ``path`` without a metadata store (or the installed engine's store)."""
    parsed = StoreSettings(**settings)  # type: ignore[arg-type]
    if STORE_FACTORIES:
        # Another engine's store: the query tests use only the Store protocol.
        return cast(DuckDBStore, STORE_FACTORIES[-1](parsed))
    return DuckDBStore(parsed, path)


def crash_flush(i: int) -> AggregateRows:
    """Flush ``i`` of the kill -9 test: 150 rows of bucket i (5 min apart) and 10 late rows
    merging into bucket i - 1; deterministic, so the test can recompute every sum."""
    keys = np.arange(150)
    late = np.arange(10)
    ts = np.concatenate([np.full(150, BASE + i * 300), np.full(10, BASE + max(i - 1, 0) * 300)])
    k = np.concatenate([keys, late])
    return AggregateRows.build(
        160,
        ts=ts.astype(np.int64),
        source="conntrack",
        peer=np.array([f"p{j % 7}" for j in k], dtype=object),
        country=np.array([COUNTRIES[j % 5] for j in k], dtype=object),
        asn=(k % 11).astype(np.uint32),
        direction=(k % 3 + 1).astype(np.uint8),
        bytes=np.concatenate([i * 1000 + keys + 1, np.ones(10, dtype=np.int64)]).astype(np.uint64),
        packets=1,
        flows=1,
    )
