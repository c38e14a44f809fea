"""kill -9 during ingest and during a rollup: the file opens, at most the in-flight flush is
lost, nothing is half-written or counted twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from trafficatlas.aggregate.rows import KEY_COLUMNS
from trafficatlas.query import totals
from trafficatlas.store.duckdb_store import DuckDBStore

from support.storedata import BASE, DAY, HOUR, crash_flush, open_store, random_rows

TESTS = Path(__file__).resolve().parents[1]
KEYS = ", ".join(KEY_COLUMNS)
NON_TS = ", ".join(KEY_COLUMNS[1:])

INGEST = """
import sys
from pathlib import Path
from support.storedata import BASE, crash_flush, open_store
store = open_store(Path(sys.argv[1]))
for i in range(2000):
    store.write(crash_flush(i), flush_id=f"f{i}")
    if i % 10 == 9:
        store.run_maintenance(now=BASE + i * 300)
    print(i, flush=True)
"""

ROLLUP = """
import sys
import numpy as np
from pathlib import Path
from support.storedata import BASE, DAY, open_store, random_rows
store = open_store(Path(sys.argv[1]))
store.write(random_rows(np.random.default_rng(9), BASE, 12 * 1440, 12))
print("written", flush=True)
store.run_maintenance(now=BASE + 13 * DAY)
print("done", flush=True)
"""


def _run(script: str, path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )


def _assert_consistent(store: DuckDBStore) -> None:
    for table in ("traffic_1m", "traffic_1h", "traffic_1d"):
        dup = store.fetch(f"SELECT count(*) - count(DISTINCT ({KEYS})) FROM {table}", [])
        assert dup == [(0,)], table
    cov = {t.name: t for t in store.coverage().tiers}
    for src, dst, width in (("1m", "1h", HOUR), ("1h", "1d", DAY)):
        # Where both tiers hold the data: from the source's retention to the rollup watermark.
        lo, hi = cov[src].start, cov[dst].end
        rolled = store.fetch(
            f"SELECT ts - ts % {width}, {NON_TS}, sum(bytes), sum(packets), sum(flows)"
            f" FROM traffic_{src} WHERE ts >= ? AND ts < ? GROUP BY ALL",
            [lo, hi],
        )
        target = store.fetch(f"SELECT * FROM traffic_{dst} WHERE ts >= ? AND ts < ?", [lo, hi])
        assert set(rolled) == set(target), f"{src} → {dst} in [{lo}, {hi})"


def test_kill_during_ingest_loses_at_most_the_inflight_flush(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    proc = _run(INGEST, path)
    assert proc.stdout is not None
    stop_after = random.randint(45, 70)
    acked = -1
    for line in proc.stdout:
        if not line.strip().isdigit():
            continue  # log output
        acked = int(line)
        if acked >= stop_after:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert acked >= stop_after, "the ingest subprocess died on its own"
    with open_store(path) as store:
        ids = {r[0] for r in store.fetch("SELECT flush_id FROM flush_log", [])}
        done = {int(x[1:]) for x in ids}
        assert set(range(acked + 1)) <= done <= set(range(acked + 2))
        flushes = [crash_flush(i) for i in sorted(done)]
        want = sum(int(f.bytes.sum()) for f in flushes)
        assert totals(store, since=BASE, until=BASE + DAY).totals.bytes == want
        per_bucket = dict(store.fetch("SELECT ts, sum(bytes) FROM traffic_1m GROUP BY ts", []))
        expected: dict[int, int] = {}
        for f in flushes:
            for ts, b in zip(f.ts.tolist(), f.bytes.tolist(), strict=True):
                expected[ts] = expected.get(ts, 0) + b
        assert per_bucket == expected
        _assert_consistent(store)
        store.run_maintenance(now=BASE + 2 * DAY)
        _assert_consistent(store)
        assert totals(store, since=BASE, until=BASE + DAY).totals.bytes == want


def test_kill_during_rollup_then_rerun_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    proc = _run(ROLLUP, path)
    assert proc.stdout is not None
    while (line := proc.stdout.readline()) and line.strip() != "written":
        pass
    assert line.strip() == "written"
    time.sleep(random.uniform(0.05, 0.4))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    rows = random_rows(np.random.default_rng(9), BASE, 12 * 1440, 12)
    with open_store(path) as store:
        _assert_consistent(store)  # whatever point the kill hit
        store.run_maintenance(now=BASE + 13 * DAY)
        _assert_consistent(store)
        spans = {t.name: t.end for t in store.coverage().tiers}
        assert spans["1d"] == BASE + 12 * DAY  # the 13th day's last hour is not rolled yet
        for table in ("traffic_1h", "traffic_1d"):
            got = store.fetch(f"SELECT sum(bytes) FROM {table}", [])[0][0]
            assert got == int(rows.bytes.sum()), table
        kept = store.coverage().tiers[0].start  # the 1m tier's retention (7 days)
        got = store.fetch("SELECT sum(bytes) FROM traffic_1m", [])[0][0]
        assert got == int(rows.bytes[rows.ts >= kept].sum())
        assert totals(store, since=BASE, until=BASE + 13 * DAY).totals.bytes == int(
            rows.bytes.sum()
        )
