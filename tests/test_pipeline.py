"""The pipeline end to end on known flows: classify → enrich → aggregate → sink."""

import time
from pathlib import Path

import numpy as np
import pytest

from trafficatlas.aggregate.aggregator import Aggregator, AggregatorSettings
from trafficatlas.aggregate.rows import AggregateRows
from trafficatlas.classify.classifier import Classifier
from trafficatlas.classify.settings import ClassifySettings, LocalNetwork
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.flowbatch import Direction, FlowBatch
from trafficatlas.net import parse_ip
from trafficatlas.pipeline import Pipeline
from trafficatlas.settings import GeoIPDatabase, GeoIPSettings, PipelineSettings
from trafficatlas.sources.base import SourceBatch

from support.mmdb_fixtures import write_asn_db, write_geo_db

DOC = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]


def flows(rows: list[tuple[float, str, str, int, int, int]]) -> FlowBatch:
    """(ts, src, dst, proto, bytes, packets) rows."""
    n = len(rows)
    src = [parse_ip(r[1]) for r in rows]
    dst = [parse_ip(r[2]) for r in rows]
    return FlowBatch.from_columns(
        n,
        ts=[r[0] for r in rows],
        ts_start=[r[0] for r in rows],
        exporter=1,
        ip_version=[s[0] for s in src],
        src_hi=[s[1] for s in src],
        src_lo=[s[2] for s in src],
        dst_hi=[d[1] for d in dst],
        dst_lo=[d[2] for d in dst],
        proto=[r[3] for r in rows],
        bytes=[r[4] for r in rows],
        packets=[r[5] for r in rows],
        in_if=3,
        out_if=4,
    )


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[Pipeline, list[AggregateRows]]:
    city = write_geo_db(tmp_path / "city.mmdb", "maxmind") or tmp_path / "city.mmdb"
    asn = write_asn_db(tmp_path / "asn.mmdb") or tmp_path / "asn.mmdb"
    settings = GeoIPSettings(
        use_bundled=False,
        databases=[GeoIPDatabase(path=city), GeoIPDatabase(path=asn)],
        lookup_reserved=DOC,
    )
    geo = GeoIP(settings)
    geo.load()
    classifier = Classifier(
        ClassifySettings(local_networks=[LocalNetwork(cidr="10.8.0.0/24", label="vpn")]),
        special=geo.special,
    )
    classifier.set_peer_prefixes({"10.8.0.2/32": 7})
    out: list[AggregateRows] = []
    p = Pipeline(
        geo,
        classifier,
        Aggregator(AggregatorSettings(interval_s=60, grace_s=0)),
        sinks=[lambda rows, _id: out.append(rows)],
        settings=PipelineSettings(flush_interval_s=0.05),
        peer_name=lambda i: {7: "alice"}.get(i, f"peer-{i}"),
    )
    return p, out


def test_known_flows_become_exact_rows(pipeline: tuple[Pipeline, list[AggregateRows]]) -> None:
    p, out = pipeline
    batch = flows(
        [
            (10.0, "10.8.0.2", "192.0.2.1", 6, 1000, 2),  # alice → DE/Berlin AS64496
            (20.0, "10.8.0.2", "192.0.2.5", 6, 500, 1),  # same key, same minute
            (30.0, "192.0.2.1", "10.8.0.2", 6, 9000, 7),  # the reply: inbound
            (70.0, "10.8.0.3", "198.51.100.9", 17, 100, 1),  # another host, minute 1, US
            (80.0, "10.8.0.3", "10.8.0.2", 1, 64, 1),  # internal
        ]
    )
    p.process(SourceBatch("flowexport", batch, exporters={1: "192.0.2.254"}))
    rows = p.flush(force=True)
    got = {
        (int(r[0]), r[1], int(r[2]), r[3], r[4], int(r[5])): (int(r[6]), int(r[7]), int(r[8]))
        for r in zip(
            rows.ts,
            rows.peer,
            rows.direction,
            rows.country,
            rows.city,
            rows.asn,
            rows.bytes,
            rows.packets,
            rows.flows,
            strict=True,
        )
    }
    assert got == {
        (0, "alice", Direction.OUTBOUND, "DE", "Berlin", 64496): (1500, 3, 2),
        (0, "alice", Direction.INBOUND, "DE", "Berlin", 64496): (9000, 7, 1),
        (60, "", Direction.OUTBOUND, "US", "Mountain View", 64499): (100, 1, 1),
        (60, "", Direction.INTERNAL, "", "", 0): (64, 1, 1),
    }
    assert set(rows.exporter) == {"192.0.2.254"}
    internal = rows.direction == Direction.INTERNAL
    assert list(rows.label[internal]) == ["LOCAL"]
    assert set(rows.interface[rows.direction == Direction.INBOUND]) == {"3"}
    assert set(rows.interface[rows.direction == Direction.OUTBOUND]) == {"4"}
    assert rows.as_orgs[64496] == "Example Transit"
    assert rows.cities[("DE", "Berlin")] == pytest.approx((52.52, 13.405), abs=1e-4)
    assert out and AggregateRows.concat(out).totals() == batch.totals() | {"flows": 5}


def test_threaded_run_flushes_everything_on_stop(
    pipeline: tuple[Pipeline, list[AggregateRows]],
) -> None:
    p, out = pipeline
    p.start()
    now = time.time()
    total = 0
    for i in range(20):
        b = flows([(now, "10.8.0.2", "203.0.113.9", 6, 100 + i, 1)] * 50)
        total += int(b.bytes.sum())
        assert p.submit(SourceBatch("flowexport", b))
    p.stop()
    assert sum(r.totals()["bytes"] for r in out) == total
    assert p.metrics.batches == 20
    assert p.metrics.dropped_batches == 0


def test_full_queue_counts_drops(pipeline: tuple[Pipeline, list[AggregateRows]]) -> None:
    p, _ = pipeline
    p.settings = PipelineSettings(queue_batches=2)
    small = Pipeline(p.geo, p.classifier, p.aggregator, settings=PipelineSettings(queue_batches=2))
    b = flows([(1.0, "10.8.0.2", "192.0.2.1", 6, 1, 1)])
    results = [small.submit(SourceBatch("x", b)) for _ in range(5)]
    assert results == [True, True, False, False, False]
    assert small.metrics.dropped_batches == 3
    assert small.metrics.dropped_flows == 3


def test_bad_batch_is_counted_not_fatal(pipeline: tuple[Pipeline, list[AggregateRows]]) -> None:
    p, out = pipeline
    good = flows([(1.0, "10.8.0.2", "192.0.2.1", 6, 10, 1)])
    bad = SourceBatch("x", good, nat=None)
    bad.flows = FlowBatch.from_columns(1)
    bad.flows.ts = np.zeros(2)  # inconsistent columns: a bug in a source must not stop us
    p.start()
    p.submit(bad)
    p.submit(SourceBatch("x", good))
    p.stop()
    assert p.metrics.process_errors == 1
    assert sum(r.totals()["bytes"] for r in out) == 10


def test_failed_flush_is_retried_with_the_same_id(
    pipeline: tuple[Pipeline, list[AggregateRows]],
) -> None:
    p, _ = pipeline
    seen: list[tuple[str, int]] = []
    fail = [True]

    def flaky(rows: AggregateRows, flush_id: str) -> None:
        seen.append((flush_id, rows.totals()["bytes"]))
        if fail[0]:
            raise OSError("store unavailable")

    p.sinks = [flaky]
    p.process(SourceBatch("x", flows([(5.0, "10.8.0.2", "192.0.2.1", 6, 42, 1)])))
    p.flush(force=True)
    assert p.metrics.store_errors == 1
    fail[0] = False
    p.flush(force=True)
    assert len(seen) == 2
    assert seen[0] == seen[1]  # same id, same rows: the store can ignore a duplicate
    assert p.metrics.flushes == 1


def test_live_view_sums_recent_seconds_and_forgets_old_ones(
    pipeline: tuple[Pipeline, list[AggregateRows]],
) -> None:
    from trafficatlas.aggregate.live import LiveView

    p, _ = pipeline
    view = LiveView(window_s=60)
    p.live = [lambda eb: view.add(eb, now=1000.0)]
    p.process(SourceBatch("x", flows([(1.0, "10.8.0.2", "192.0.2.1", 6, 100, 1)] * 3)))
    p.live = [lambda eb: view.add(eb, now=1030.0)]
    p.process(SourceBatch("x", flows([(1.0, "10.8.0.2", "198.51.100.9", 6, 7, 1)])))
    assert view.by_country(60, now=1030.0) == [("DE", 300, 3, 3), ("US", 7, 1, 1)]
    berlin = next(r for r in view.rows(60, now=1030.0) if r.country == "DE")
    assert (berlin.peer, berlin.city, berlin.asn) == (7, "Berlin", 64496)
    assert berlin.latitude == pytest.approx(52.52, abs=1e-4)
    assert view.by_country(20, now=1030.0) == [("US", 7, 1, 1)]  # only the last 20 s
    view.add(
        p.enrich(SourceBatch("x", flows([(1.0, "10.8.0.2", "192.0.2.1", 6, 1, 1)]))), now=1100.0
    )
    assert view.by_country(60, now=1100.0) == [("DE", 1, 1, 1)]  # older seconds expired
