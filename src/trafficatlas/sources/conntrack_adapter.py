"""The conntrack source as a pipeline Source (SourceBatch with NAT addresses)."""

from __future__ import annotations

from collections.abc import Mapping

from trafficatlas.sources.base import Emit, SourceBatch
from trafficatlas.sources.conntrack_delta import ConntrackFlows
from trafficatlas.sources.conntrack_source import ConntrackSettings, ConntrackSource


class ConntrackAdapter:
    """Runs a ConntrackSource and hands each poll's deltas to the pipeline."""

    name = "conntrack"

    def __init__(self, settings: ConntrackSettings) -> None:
        self.settings = settings
        self.source: ConntrackSource | None = None

    def start(self, emit: Emit) -> None:
        def sink(out: ConntrackFlows) -> None:
            emit(SourceBatch(self.name, out.flows, nat=out.nat))

        self.source = ConntrackSource(self.settings, sink=sink)
        self.source.start()

    def stop(self) -> None:
        if self.source is not None:
            self.source.stop()

    def metrics(self) -> Mapping[str, float]:
        if self.source is None:
            return {}
        return self.source.metrics.as_dict()
