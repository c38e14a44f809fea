"""Load N days of per-minute traffic ending now into a store, for bench/api.sh.

Reuses bench/store.py's generator (Zipf over 50 peers x 150 countries x 2000 ASNs; about 20M
rows for 30 days) and writes through DuckDBStore.write one flush per minute, with the hourly
maintenance the daemon would run, so all three tiers are as in production.

Usage: uv run python bench/api_load.py DATA_DIR [--days 30] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store import DAY, Generator, split_minutes
from trafficatlas.logging import configure_logging
from trafficatlas.store import open_store
from trafficatlas.store.settings import StoreSettings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rows", type=int, default=None, help="total rows (default 20M x days/30)")
    args = ap.parse_args(argv)
    configure_logging("warning")
    total = args.rows or int(20_000_000 * args.days / 30)
    gen = Generator(total / (args.days * 1440))
    now = int(time.time())
    end = now - now % 60
    start = end - args.days * DAY
    store = open_store(StoreSettings(), args.data_dir)
    rows = 0
    t0 = time.perf_counter()
    try:
        for d in range(args.days):
            day = gen.day(start + d * DAY)
            for i, minute in enumerate(split_minutes(day)):
                ts = int(minute.ts[0])
                store.write(minute, flush_id=f"bench-{ts}")
                if i % 60 == 59:
                    store.run_maintenance(now=ts + 60)
            rows += len(day)
            print(f"day {d + 1}/{args.days}: {rows:,} rows", file=sys.stderr)
        store.run_maintenance(now=end + 300)
    finally:
        store.close()
    print(json.dumps({"rows": rows, "load_s": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
