"""What every source hands the pipeline, and the Source protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from trafficatlas.classify.nat import NatAddresses
from trafficatlas.flowbatch import FlowBatch


@dataclass(slots=True)
class SourceBatch:
    """A FlowBatch from one source, with what the source knows beside it."""

    source: str  # component name: "flowexport", "conntrack", "wireguard", "capture"
    flows: FlowBatch
    nat: NatAddresses | None = None  # translated addresses (conntrack)
    exporters: Mapping[int, str] = field(default_factory=dict)  # exporter id -> name/address
    interfaces: Mapping[tuple[int, int], str] = field(default_factory=dict)  # (exporter, ifindex)


Emit = Callable[[SourceBatch], object]


class Source(Protocol):
    """A running source: started with the pipeline's emit function, stopped on shutdown."""

    name: str

    def start(self, emit: Emit) -> None: ...

    def stop(self) -> None: ...

    def metrics(self) -> Mapping[str, float]:
        """Current counters (monotonic totals and gauges) for Prometheus and `status`."""
        ...
