"""Benchmark: ingest per-minute aggregates into the DuckDB store, then run dashboard queries on it
and on an SQLite copy of the same tables.

Usage: uv run python bench/store.py [--days 30] [--rows 20000000] [--runs 10] [--sqlite-runs 5]

Data: ``--days`` of per-minute rows (``--rows`` in total, default ≈20M for 30 days), Zipf over
50 peers × 150 countries × 2000 ASNs (each ASN has a home country; 30% of its rows go elsewhere),
non-empty combinations only, with a day/night cycle; generated day by day to bound memory.
Ingest goes through ``DuckDBStore.write`` one flush per minute (with a flush id), with the
maintenance job run every simulated hour, as the daemon would; the rate counts both.

Queries (through the query layer, ending a few minutes before the data's end so every tier
takes part): top 10 countries over 24 h / 7 d / 30 d, top 20 ASNs over 30 d, one country's
series at 5 min over 1 d and 1 h over 30 d, all peers over 24 h. The SQLite copy holds the same
tables after rollup and retention (indexes on ts, (country, ts), (asn, ts), (peer, ts)) and runs
the very same SQL through the SQLite dialect; every answer is compared.

Prints a table and a final JSON line {"rows", "ingest_rows_per_s", "p95_ms", "sqlite_p95_ms",
"ratio"}: p95_ms is the worst query's p95 on DuckDB, sqlite_p95_ms the worst on SQLite, ratio
their quotient.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trafficatlas.aggregate.rows import KEY_COLUMNS, VALUE_COLUMNS, AggregateRows
from trafficatlas.enrich.countries import COUNTRY_NAMES
from trafficatlas.logging import configure_logging
from trafficatlas.query import Filters, timeseries, top
from trafficatlas.store import StoreSettings
from trafficatlas.store.dialect import SQLiteDialect
from trafficatlas.store.duckdb_store import DuckDBStore
from trafficatlas.store.protocol import Coverage

DAY = 86_400
N_PEERS, N_COUNTRIES, N_ASNS = 50, 150, 2000
TABLES = ("traffic_1m", "traffic_1h", "traffic_1d")
COLUMNS = [*KEY_COLUMNS, *VALUE_COLUMNS]


def zipf_weights(n: int, s: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


class Generator:
    """Per-minute aggregated rows with Zipf-distributed peers, countries and ASNs.

    Traffic repeats: a fixed universe of active combinations (peer, country, ASN, direction,
    protocol) is drawn once from the Zipf marginals, and every minute's rows are drawn from it by
    weight, so popular combinations appear minute after minute and the tail now and then.
    """

    def __init__(self, rows_per_minute: float, universe: int = 60_000, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.rpm = rows_per_minute
        codes = sorted(c for c in COUNTRY_NAMES if c not in ("EU", "AP", "ZZ"))
        self.countries = np.array(self.rng.permutation(codes)[:N_COUNTRIES], dtype=object)
        self.peers = np.array([f"peer-{i:02d}" for i in range(N_PEERS)], dtype=object)
        self.asns = self.rng.choice(np.arange(1, 400_000), N_ASNS, replace=False).astype(np.uint32)
        w_peer = zipf_weights(N_PEERS, 1.0)
        w_country = zipf_weights(N_COUNTRIES, 1.1)
        w_asn = zipf_weights(N_ASNS, 1.0)
        asn_home = self.rng.choice(N_COUNTRIES, N_ASNS, p=w_country)
        self.as_orgs = {int(a): f"Org of AS{int(a)}" for a in self.asns}
        draw = universe * 3
        peer = self.rng.choice(N_PEERS, draw, p=w_peer)
        asn = self.rng.choice(N_ASNS, draw, p=w_asn)
        elsewhere = self.rng.random(draw) < 0.3
        country = np.where(
            elsewhere, self.rng.choice(N_COUNTRIES, draw, p=w_country), asn_home[asn]
        )
        direction = self.rng.integers(1, 3, draw)
        proto = self.rng.integers(0, 2, draw)
        packed = (((peer * 256 + country) * 2048 + asn) * 4 + direction) * 2 + proto
        combos = np.unique(packed)[:universe]
        self.combos = self.rng.permutation(combos)
        self.c_proto, rest = self.combos % 2, self.combos // 2
        self.c_direction, rest = rest % 4, rest // 4
        self.c_asn, rest = rest % 2048, rest // 2048
        self.c_country, self.c_peer = rest % 256, rest // 256
        w = w_peer[self.c_peer] * w_asn[self.c_asn] * w_country[self.c_country] ** 0.5
        self.w_combo = w / w.sum()
        self.proto = np.array([6, 17], dtype=np.uint8)

    def day(self, day_start: int) -> AggregateRows:
        """All rows of one day, sorted by minute (distinct keys per minute)."""
        target = int(self.rpm * 1440)
        minute_w = 1.0 + 0.6 * np.sin(np.linspace(0, 2 * np.pi, 1440, endpoint=False) - 1.8)
        minute_w /= minute_w.sum()
        u = len(self.combos)
        keys = np.zeros(0, dtype=np.int64)
        draw = int(target * 1.4)
        while len(keys) < target:
            m = self.rng.choice(1440, draw, p=minute_w).astype(np.int64)
            c = self.rng.choice(u, draw, p=self.w_combo)
            keys = np.unique(np.concatenate([keys, m * u + c]))
            draw = max(int((target - len(keys)) * 3), 1000)
        keys = np.sort(self.rng.choice(keys, target, replace=False))
        minute, c = keys // u, keys % u
        peer, asn, country = self.c_peer[c], self.c_asn[c], self.c_country[c]
        n = len(keys)
        nbytes = (self.rng.lognormal(10, 1.5, n) * (1 + 1e4 * self.w_combo[c])).astype(np.uint64)
        nbytes += 60
        v6 = self.rng.random(n) < 0.2
        return AggregateRows.build(
            n,
            ts=day_start + minute * 60,
            source="wireguard",
            interface="wg0",
            peer=self.peers[peer],
            direction=self.c_direction[c].astype(np.uint8),
            ip_version=np.where(v6, 6, 4).astype(np.uint8),
            proto=self.proto[self.c_proto[c]],
            country=self.countries[country],
            asn=self.asns[asn],
            bytes=nbytes,
            packets=nbytes // 900 + 1,
            flows=self.rng.integers(1, 40, n).astype(np.uint64),
            as_orgs=self.as_orgs,
        )


def split_minutes(rows: AggregateRows) -> list[AggregateRows]:
    """One AggregateRows per minute (rows are sorted by ts)."""
    cuts = np.flatnonzero(np.diff(rows.ts)) + 1
    bounds = [0, *cuts.tolist(), len(rows)]
    out = []
    for a, b in itertools.pairwise(bounds):
        cols = {name: getattr(rows, name)[a:b] for name in AggregateRows.DTYPES}
        out.append(AggregateRows(**cols, as_orgs=rows.as_orgs if a == 0 else {}))
    return out


class SQLiteCopy:
    """The store's tables in SQLite, answering through the same query layer."""

    def __init__(self, path: Path, coverage: Coverage) -> None:
        self.conn = sqlite3.connect(str(path))
        self._coverage = coverage
        self.dialect = SQLiteDialect()

    def coverage(self) -> Coverage:
        return self._coverage

    def fetch(self, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def peer_names(self) -> dict[str, str]:
        return {}


def copy_to_sqlite(store: DuckDBStore, path: Path) -> SQLiteCopy:
    types = {"ts": "INTEGER", "bytes": "INTEGER", "packets": "INTEGER", "flows": "INTEGER"}
    sq = SQLiteCopy(path, store.coverage())
    conn = sq.conn
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    for table in TABLES:
        cols = ", ".join(
            f"{c} {types.get(c, 'TEXT' if c in STR_COLS else 'INTEGER')} NOT NULL" for c in COLUMNS
        )
        conn.execute(f"CREATE TABLE {table} ({cols})")
        cur = store._conn.cursor()
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY ts")
        marks = ", ".join("?" for _ in COLUMNS)
        while batch := cur.fetchmany(200_000):
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)
        cur.close()
        for idx in ("ts", "country, ts", "asn, ts", "peer, ts"):
            name = f"{table}_{idx.replace(', ', '_')}"
            conn.execute(f"CREATE INDEX {name} ON {table} ({idx})")
    conn.execute("CREATE TABLE asn_names (asn INTEGER PRIMARY KEY, org TEXT NOT NULL)")
    conn.executemany(
        "INSERT INTO asn_names VALUES (?, ?)", store.fetch("SELECT * FROM asn_names", [])
    )
    conn.execute(
        "CREATE TABLE cities (country TEXT, city TEXT, lat REAL, lon REAL,"
        " PRIMARY KEY (country, city))"
    )
    conn.commit()
    conn.execute("ANALYZE")
    return sq


STR_COLS = {"source", "exporter", "interface", "peer", "country", "label", "city"}


def queries(end: int, country: str) -> dict[str, Callable[[Any], Any]]:
    until = end - 1333  # mid-hour: every tier takes part
    f = Filters()
    fc = Filters(country=[country])
    return {
        "top10_countries_24h": lambda s: top(s, ["country"], f, 10, until - DAY, until),
        "top10_countries_7d": lambda s: top(s, ["country"], f, 10, until - 7 * DAY, until),
        "top10_countries_30d": lambda s: top(s, ["country"], f, 10, until - 30 * DAY, until),
        "top20_asns_30d": lambda s: top(s, ["asn"], f, 20, until - 30 * DAY, until),
        "country_series_5m_1d": lambda s: timeseries(s, [], fc, until - DAY, until, 300),
        "country_series_1h_30d": lambda s: timeseries(s, [], fc, until - 30 * DAY, until, 3600),
        "peers_24h": lambda s: top(s, ["peer"], f, None, until - DAY, until),
    }


def p95(samples: list[float]) -> float:
    return float(np.percentile(np.array(samples) * 1000, 95))


def measure(fn: Callable[[Any], Any], source: Any, runs: int) -> tuple[list[float], Any]:
    result = fn(source)  # warm-up (and the answer to compare)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(source)
        times.append(time.perf_counter() - t0)
    return times, result


def comparable(result: Any) -> Any:
    data = result.model_dump()
    for row in data.get("rows", []) + data.get("series", []):
        row["attrs"] = {}  # peer names come from the metadata store, absent in the copy
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rows", type=int, default=None, help="total rows (default 20M × days/30)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--sqlite-runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("var/bench-store"))
    ap.add_argument("--keep", action="store_true", help="keep the store files afterwards")
    args = ap.parse_args(argv)
    configure_logging("warning")
    total_rows = args.rows or int(20_000_000 * args.days / 30)
    rpm = total_rows / (args.days * 1440)
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    gen = Generator(rpm)
    end = 1_780_000_000 - 1_780_000_000 % DAY
    start = end - args.days * DAY
    settings = StoreSettings(path=args.dir / "bench.duckdb")
    store = DuckDBStore(settings, args.dir / "bench.duckdb")
    n_rows = 0
    ingest_s = 0.0
    print(f"generating and ingesting {args.days} days, ~{rpm:.0f} rows/minute ...", file=sys.stderr)
    for d in range(args.days):
        day_rows = gen.day(start + d * DAY)
        n_rows += len(day_rows)
        t0 = time.perf_counter()
        for i, minute in enumerate(split_minutes(day_rows)):
            ts = int(minute.ts[0])
            store.write(minute, flush_id=f"bench-{ts}")
            if i % 60 == 59:
                store.run_maintenance(now=ts + 60)
        ingest_s += time.perf_counter() - t0
        print(
            f"  day {d + 1}/{args.days}: {n_rows} rows, {n_rows / ingest_s:,.0f} rows/s",
            file=sys.stderr,
        )
    t0 = time.perf_counter()
    store.run_maintenance(now=end + 300)
    ingest_s += time.perf_counter() - t0
    sizes = {t: store.fetch(f"SELECT count(*) FROM {t}", [])[0][0] for t in TABLES}
    print(f"tier rows after rollup and retention: {sizes}", file=sys.stderr)
    print("copying to SQLite ...", file=sys.stderr)
    t0 = time.perf_counter()
    sq = copy_to_sqlite(store, args.dir / "bench.sqlite3")
    print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    country = str(gen.countries[0])
    report: dict[str, dict[str, float]] = {}
    mismatches = 0
    for name, fn in queries(end, country).items():
        d_times, d_res = measure(fn, store, args.runs)
        s_times, s_res = measure(fn, sq, args.sqlite_runs)
        if comparable(d_res) != comparable(s_res):
            mismatches += 1
            print(f"  MISMATCH in {name}", file=sys.stderr)
        report[name] = {"duckdb_p95_ms": p95(d_times), "sqlite_p95_ms": p95(s_times)}
        print(
            f"{name:24s} duckdb p95 {p95(d_times):8.1f} ms   sqlite p95 {p95(s_times):9.1f} ms"
            f"   ×{p95(s_times) / p95(d_times):.0f}"
        )
    store.close()
    sq.conn.close()
    worst = max(r["duckdb_p95_ms"] for r in report.values())
    worst_sqlite = max(r["sqlite_p95_ms"] for r in report.values())
    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "tier_rows": sizes,
                "mismatches": mismatches,
                "queries": report,
            }
        ),
        file=sys.stderr,
    )
    if not args.keep:
        shutil.rmtree(args.dir, ignore_errors=True)
    print(
        json.dumps(
            {
                "rows": n_rows,
                "ingest_rows_per_s": round(n_rows / ingest_s),
                "p95_ms": round(worst, 1),
                "sqlite_p95_ms": round(worst_sqlite, 1),
                "ratio": round(worst_sqlite / worst, 1),
            }
        )
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
