"""Conntrack source: public names (the implementation lives in the ``conntrack_*`` modules)."""

from __future__ import annotations

from trafficatlas.sources.conntrack_delta import ConntrackAccounting, ConntrackFlows
from trafficatlas.sources.conntrack_metrics import ConntrackMetrics
from trafficatlas.sources.conntrack_parse import (
    EVENT_DESTROY,
    EVENT_NEW,
    EVENT_NONE,
    EVENT_UPDATE,
    ConntrackTable,
    ParseStats,
    parse_conntrack,
)
from trafficatlas.sources.conntrack_source import ConntrackSettings, ConntrackSource

__all__ = [
    "EVENT_DESTROY",
    "EVENT_NEW",
    "EVENT_NONE",
    "EVENT_UPDATE",
    "ConntrackAccounting",
    "ConntrackFlows",
    "ConntrackMetrics",
    "ConntrackSettings",
    "ConntrackSource",
    "ConntrackTable",
    "ParseStats",
    "parse_conntrack",
]
