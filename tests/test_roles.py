"""Roles of `serve`: collector (sources + pipeline through the spool, no API), api (the shared
store, no pipeline), and the engine check. The shared store here is a real DuckDB file handed to
the runtime through ``store_opener`` (the role logic is under test, not the ClickHouse store)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trafficatlas.errors import ConfigError
from trafficatlas.runtime import Runtime, check_role
from trafficatlas.sources.base import SourceBatch

from support.roles import SharedStore, batch, settings, total_bytes, wait_for


@pytest.mark.parametrize("role", ["api", "collector"])
def test_split_roles_need_a_shared_store(tmp_path: Path, role: str) -> None:
    s = settings(tmp_path, role, engine="duckdb")
    with pytest.raises(ConfigError, match=r'store\.engine = "clickhouse"') as exc:
        check_role(s)
    assert "belongs to one process" in str(exc.value)
    with pytest.raises(ConfigError, match=role):
        Runtime(s).start()
    assert not (tmp_path / "data").exists()  # refused before anything was created
    check_role(settings(tmp_path, "all", engine="duckdb"))  # today's single process


def test_collector_spools_while_the_store_is_down_and_replays(tmp_path: Path) -> None:
    shared = SharedStore(tmp_path / "shared.duckdb")
    shared.reachable = False  # down when the collector starts: it starts anyway
    rt = Runtime(settings(tmp_path, "collector"), store_opener=shared)
    rt.start()
    now = time.time()
    try:
        assert rt.pipeline is not None and rt.writer is not None and rt.store is None
        health = rt.health()
        assert health["role"] == "collector" and health["status"] == "degraded"
        assert health["spool"]["store_available"] is False
        rt.pipeline.process(SourceBatch("flowexport", batch(now)))
        rt.pipeline.flush(force=True)
        assert rt.writer.spool.backlog_batches == 1
        assert rt.pipeline.metrics.store_errors == 0  # the pipeline never saw the outage
        shared.reachable = True
        wait_for(lambda: rt.writer is not None and rt.writer.spool.backlog_batches == 0)
        assert rt.store is shared.opened[0]
        assert total_bytes(rt.require_store(), now) == 1080
        assert rt.health()["status"] == "ok"
    finally:
        rt.stop()
    assert rt.writer is None and rt.store is None


def test_collector_stopped_during_an_outage_keeps_its_last_flush(tmp_path: Path) -> None:
    shared = SharedStore(tmp_path / "shared.duckdb")
    rt = Runtime(settings(tmp_path, "collector"), store_opener=shared)
    rt.start()
    now = time.time()
    assert rt.pipeline is not None and rt.store is not None
    shared.opened[0].down = True  # the server goes away
    rt.pipeline.submit(SourceBatch("flowexport", batch(now)))  # still in the open minute
    rt.stop()  # graceful: the final flush goes to the spool
    assert len(list((tmp_path / "data" / "spool").glob("*.npz"))) == 1
    rt2 = Runtime(settings(tmp_path, "collector"), store_opener=shared)
    rt2.start()
    try:
        assert rt2.writer is not None
        wait_for(lambda: rt2.writer is not None and rt2.writer.spool.backlog_batches == 0)
        assert total_bytes(rt2.require_store(), now) == 1080
    finally:
        rt2.stop()


def test_api_role_runs_no_pipeline_and_reads_the_shared_store(tmp_path: Path) -> None:
    shared = SharedStore(tmp_path / "shared.duckdb")
    now = time.time()
    collector = Runtime(settings(tmp_path, "collector"), store_opener=shared)
    collector.start()
    assert collector.pipeline is not None
    collector.pipeline.submit(SourceBatch("flowexport", batch(now)))
    collector.stop()  # (one DuckDB file, one process at a time; ClickHouse has no such limit)
    rt = Runtime(settings(tmp_path, "api"), store_opener=shared)
    rt.start()
    try:
        assert rt.pipeline is None and rt.sources == [] and rt.writer is None
        health = rt.health()
        assert health["role"] == "api" and health["status"] == "ok"
        assert health["queue_depth"] is None and "role = api" in health["pipeline"]
        assert total_bytes(rt.require_store(), now) == 1080
    finally:
        rt.stop()


def test_api_role_refuses_sources(tmp_path: Path) -> None:
    class Idle:
        name = "idle"

        def start(self, emit: object) -> None: ...

        def stop(self) -> None: ...

        def metrics(self) -> dict[str, float]:
            return {}

    rt = Runtime(settings(tmp_path, "api"), [Idle()], store_opener=SharedStore(tmp_path / "s"))
    with pytest.raises(ConfigError, match="runs no sources"):
        rt.start()
