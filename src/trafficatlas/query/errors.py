"""Errors a query's caller can cause (bad parameters, a feature that is off)."""

from __future__ import annotations

from trafficatlas.errors import TrafficAtlasError


class QueryError(TrafficAtlasError):
    """The query cannot be answered as asked (unknown dimension, step finer than kept data...)."""


class FlowDetailDisabledError(QueryError):
    """Drill-down needs raw flow records, and flow detail is off in the store settings."""
