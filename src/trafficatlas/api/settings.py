"""APISettings: /metrics access and label bounds, the live feed, the result cache, the map.

Light on purpose so the main Settings model can embed it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from trafficatlas.section import Section


class APISettings(Section):
    """The HTTP API beyond authentication (see AuthSettings for that)."""

    # Who may scrape /metrics. "localhost": clients on loopback need no credentials, others need
    # a token or session (the default: a Prometheus on the same host just works). "required":
    # always a token — use it when a reverse proxy on this host forwards outside requests
    # without X-Forwarded-For, since they would all look local. "none": anyone who can reach it.
    metrics_auth: Literal["none", "localhost", "required"] = "localhost"
    # Label sets of the per-peer, per-ASN and per-interface metrics: the top N by all-time
    # bytes get their own series, the rest is summed as "other".
    metrics_top_peers: int = Field(default=50, ge=1, le=10_000)
    metrics_top_asns: int = Field(default=50, ge=1, le=10_000)
    metrics_top_interfaces: int = Field(default=50, ge=1, le=10_000)
    # How often the /api/live WebSocket pushes the live view (seconds), and the window it sums.
    live_interval_s: float = Field(default=2.0, ge=0.1, le=3600)
    live_window_s: int = Field(default=60, ge=1, le=3600)
    # Query results kept in memory, reused while the store holds the same data (every write and
    # rollup invalidates them; entries also expire after cache_ttl_s). 0 turns the cache off.
    cache_entries: int = Field(default=256, ge=0)
    cache_ttl_s: float = Field(default=60.0, gt=0)
    # Where the map's flow lines start for peers whose own location is unknown (this site).
    home_latitude: float | None = Field(default=None, ge=-90, le=90)
    home_longitude: float | None = Field(default=None, ge=-180, le=180)
