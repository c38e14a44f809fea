"""TrafficAtlasCollector: every metric family, computed when Prometheus scrapes.

Traffic families come from all-time store queries; their results are reused until the store's
``data_version`` changes (a write or rollup), so frequent scrapes of an idle store cost nothing.
A failing part (store closed, a query error) is logged and skipped: a scrape never fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trafficatlas.errors import TrafficAtlasError
from trafficatlas.logging import get_logger
from trafficatlas.metrics import health, traffic

if TYPE_CHECKING:
    from trafficatlas.api.cache import ResultCache
    from trafficatlas.runtime import Runtime

log = get_logger("metrics")


class TrafficAtlasCollector(Collector):
    """Collects traffic counters, component health and API cache figures of one runtime."""

    def __init__(
        self, runtime: Runtime, cache: ResultCache | None = None, *, traffic: bool = True
    ) -> None:
        """``traffic=False`` leaves out the store's traffic totals (a collector's listener: the
        shared store's totals are the API nodes' to export, once)."""
        self.runtime = runtime
        self.cache = cache
        self.traffic = traffic
        self._lock = threading.Lock()
        self._traffic: tuple[int, list[Metric]] | None = None

    def describe(self) -> list[Metric]:
        # Nothing up front: registering must not run store queries.
        return []

    def collect(self) -> Iterator[Metric]:
        if self.traffic:
            yield from self._traffic_families()
        for part in (
            health.process_families,
            health.pipeline_families,
            health.source_families,
            health.store_families,
            health.spool_families,
            health.geoip_families,
        ):
            try:
                yield from list(part(self.runtime))
            except Exception as exc:  # a scrape must never fail on one component
                log.error("metrics part failed", part=part.__name__, error=str(exc))
        if self.cache is not None:
            for name, value, text in (
                ("hits", self.cache.hits, "API query results served from the cache."),
                ("misses", self.cache.misses, "API query results computed."),
            ):
                fam = CounterMetricFamily(f"trafficatlas_api_cache_{name}", text)
                fam.add_metric([], value)
                yield fam
            yield GaugeMetricFamily(
                "trafficatlas_api_cache_entries_max",
                "Result cache capacity (api.cache_entries).",
                value=self.cache.entries,
            )

    def _traffic_families(self) -> list[Metric]:
        store = self.runtime.store
        if store is None:
            return []
        version = getattr(store, "data_version", None)
        with self._lock:
            if version is not None and self._traffic and self._traffic[0] == version:
                return self._traffic[1]
            settings = self.runtime.settings.api
            try:
                families = [
                    *traffic.geoip_families(store, settings),
                    *traffic.total_families(store),
                    *traffic.peer_families(store, settings),
                    *traffic.asn_families(store, settings),
                ]
            except (TrafficAtlasError, ValueError) as exc:
                log.error("traffic metrics failed", error=str(exc))
                return []
            if isinstance(version, int):
                self._traffic = (version, families)
            return families
