"""Reads in other threads while flushes are written: each read sees whole flushes only."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from trafficatlas.query import totals

from support.storedata import BASE, DAY, crash_flush, open_store


def test_readers_see_whole_flushes_only(tmp_path: Path) -> None:
    flushes = [crash_flush(i) for i in range(60)]
    prefix = set(np.cumsum([0] + [int(f.bytes.sum()) for f in flushes]).tolist())
    seen: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    done = threading.Event()
    with open_store(tmp_path / "s.duckdb") as store:

        def read(out: list[int]) -> None:
            try:
                while not done.is_set():
                    out.append(totals(store, since=BASE, until=BASE + DAY).totals.bytes)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        readers = [threading.Thread(target=read, args=(out,)) for out in seen]
        for t in readers:
            t.start()
        try:
            for i, flush in enumerate(flushes):
                store.write(flush, flush_id=f"f{i}")
                if i % 20 == 19:
                    store.run_maintenance(now=BASE + i * 300)
        finally:
            done.set()
            for t in readers:
                t.join(timeout=60)
        assert not errors
        for out in seen:
            assert len(out) > 5
            assert set(out) <= prefix  # never a half-written flush
            assert out == sorted(out)  # committed data never disappears
        assert totals(store, since=BASE, until=BASE + DAY).totals.bytes == max(prefix)
