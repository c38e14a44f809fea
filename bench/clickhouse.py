"""Benchmark: the ClickHouse store beside the DuckDB store on the same per-minute data.

Usage: uv run python bench/clickhouse.py [--days 30] [--rows 20000000] [--runs 10]
       [--port 9000]   # an existing server on loopback instead of one started here

Data and queries are bench/store.py's (Zipf peers × countries × ASNs, one flush per minute with
a flush id, the maintenance job every simulated hour). Both stores ingest the same flushes; the
insert rate counts the writes and the maintenance runs. Without ``--port`` a clickhouse-server
(Debian's 18.16) is started on a free loopback port with its data under ``--dir`` and stopped at
the end. Every query's answer is compared between the two stores.

Prints a table and a final JSON line {"rows", "duckdb_rows_per_s", "clickhouse_rows_per_s",
"duckdb_p95_ms", "clickhouse_p95_ms", "clickhouse_bytes", "mismatches"}; p95 is the worst
query's 95th percentile.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from trafficatlas.logging import configure_logging
from trafficatlas.store import StoreSettings
from trafficatlas.store.clickhouse.conn import DriverConnection
from trafficatlas.store.clickhouse.store import ClickHouseStore, create_database
from trafficatlas.store.duckdb_store import DuckDBStore
from trafficatlas.store.errors import StoreUnavailable

HERE = Path(__file__).resolve().parent
DAY = 86_400


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_retrying(store: ClickHouseStore, rows: Any, flush_id: str) -> None:
    """Write, waiting while the server throttles inserts (too many parts: merges catch up)."""
    for attempt in range(60):
        try:
            store.write(rows, flush_id=flush_id)
            return
        except StoreUnavailable:
            time.sleep(min(0.1 * 2**attempt, 2.0))
    raise RuntimeError(f"flush {flush_id} still refused after retries")


def main(argv: list[str] | None = None) -> int:
    bench = _load("bench_store", HERE / "store.py")
    sys.path.insert(0, str(HERE.parent / "tests"))
    chserver = _load("bench_chserver", HERE.parent / "tests" / "support" / "chserver.py")

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rows", type=int, default=None, help="total rows (default 20M × days/30)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--port", type=int, default=None, help="use a running server on 127.0.0.1")
    ap.add_argument("--dir", type=Path, default=Path("var/bench-clickhouse"))
    args = ap.parse_args(argv)
    configure_logging("warning")
    total_rows = args.rows or int(20_000_000 * args.days / 30)
    rpm = total_rows / (args.days * 1440)
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)

    server = None
    if args.port is None:
        binary = chserver.server_binary()
        if binary is None:
            print("clickhouse-server is not installed (scripts/bootstrap.sh)", file=sys.stderr)
            return 2
        server = chserver.ClickHouseServer.start(binary, (args.dir / "server").resolve())
        port = server.port
    else:
        port = args.port
    settings = StoreSettings(
        path=args.dir / "bench.duckdb",
        clickhouse={"port": port, "database": "trafficatlas_bench", "node_id": "bench"},  # type: ignore[arg-type]
    )
    try:
        ch_conn = DriverConnection(settings.clickhouse, "")
        ch_conn.execute("DROP DATABASE IF EXISTS trafficatlas_bench")
        ch_conn.close()
        create_database(settings)
        ch = ClickHouseStore(
            settings, lambda: DriverConnection(settings.clickhouse, "trafficatlas_bench")
        )
        duck = DuckDBStore(settings, args.dir / "bench.duckdb")
        gen = bench.Generator(rpm)
        end = 1_780_000_000 - 1_780_000_000 % DAY
        start = end - args.days * DAY
        n_rows, t_duck, t_ch = 0, 0.0, 0.0
        print(f"ingesting {args.days} days, ~{rpm:.0f} rows/minute ...", file=sys.stderr)
        for d in range(args.days):
            minutes = bench.split_minutes(gen.day(start + d * DAY))
            n_rows += sum(len(m) for m in minutes)
            for store_name in ("duckdb", "clickhouse"):
                t0 = time.perf_counter()
                for i, minute in enumerate(minutes):
                    ts = int(minute.ts[0])
                    if store_name == "duckdb":
                        duck.write(minute, flush_id=f"bench-{ts}")
                    else:
                        write_retrying(ch, minute, f"bench-{ts}")
                    if i % 60 == 59:
                        (duck if store_name == "duckdb" else ch).run_maintenance(now=ts + 60)
                spent = time.perf_counter() - t0
                if store_name == "duckdb":
                    t_duck += spent
                else:
                    t_ch += spent
            print(
                f"  day {d + 1}/{args.days}: {n_rows} rows; duckdb {n_rows / t_duck:,.0f} rows/s,"
                f" clickhouse {n_rows / t_ch:,.0f} rows/s",
                file=sys.stderr,
            )
        for store_name, store in (("duckdb", duck), ("clickhouse", ch)):
            t0 = time.perf_counter()
            store.run_maintenance(now=end + 300)
            if store_name == "duckdb":
                t_duck += time.perf_counter() - t0
            else:
                t_ch += time.perf_counter() - t0
        ch_bytes = int(
            ch.fetch(
                "SELECT sum(bytes_on_disk) FROM system.parts"
                " WHERE database = currentDatabase() AND active",
                {},
            )[0][0]
        )
        country = str(gen.countries[0])
        report: dict[str, dict[str, float]] = {}
        mismatches = 0
        for name, fn in bench.queries(end, country).items():
            d_times, d_res = bench.measure(fn, duck, args.runs)
            c_times, c_res = bench.measure(fn, ch, args.runs)
            if bench.comparable(d_res) != bench.comparable(c_res):
                mismatches += 1
                print(f"  MISMATCH in {name}", file=sys.stderr)
            report[name] = {
                "duckdb_p95_ms": bench.p95(d_times),
                "clickhouse_p95_ms": bench.p95(c_times),
            }
            print(
                f"{name:24s} duckdb p95 {bench.p95(d_times):8.1f} ms"
                f"   clickhouse p95 {bench.p95(c_times):8.1f} ms"
            )
        duck.close()
        ch.close()
    finally:
        if server is not None:
            server.stop()
    shutil.rmtree(args.dir, ignore_errors=True)
    print(json.dumps({"queries": report}), file=sys.stderr)
    print(
        json.dumps(
            {
                "rows": n_rows,
                "duckdb_rows_per_s": round(n_rows / t_duck),
                "clickhouse_rows_per_s": round(n_rows / t_ch),
                "duckdb_p95_ms": round(max(r["duckdb_p95_ms"] for r in report.values()), 1),
                "clickhouse_p95_ms": round(max(r["clickhouse_p95_ms"] for r in report.values()), 1),
                "clickhouse_bytes": ch_bytes,
                "mismatches": mismatches,
            }
        )
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
