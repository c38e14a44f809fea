"""Traffic counters from the store's all-time totals, so they stay monotonic across restarts.

The store keeps the 1-day tier forever by default, so all-time sums only grow. With a finite
``store.retention_1d`` they drop when old days expire; Prometheus treats that as a counter reset
(``rate()`` and ``increase()`` stay correct).

Label sets are bounded: countries (about 250) as they are, and interfaces, peers and ASNs as the
top N by all-time bytes plus ``other``. No address is ever a label value.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from trafficatlas.api.settings import APISettings
from trafficatlas.flowbatch import Direction
from trafficatlas.query import TopRow, top
from trafficatlas.store import QuerySource

DAY = 86_400
OTHER = "other"
DIRECTION_LABEL = {
    int(Direction.OUTBOUND): "sent",
    int(Direction.INBOUND): "received",
    int(Direction.INTERNAL): "internal",
    int(Direction.UNKNOWN): "unknown",
}


def _all_time(store: QuerySource, by: list[str]) -> list[TopRow]:
    # Until two days ahead: rows stamped slightly in the future (clock skew) count too.
    return top(store, by, None, None, 0, time.time() + 2 * DAY).rows


def _top_keys(rows: Iterable[TopRow], dim: str, n: int) -> set[str]:
    totals: dict[str, int] = {}
    for r in rows:
        k = str(r.key[dim])
        totals[k] = totals.get(k, 0) + r.bytes
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return {k for k, _ in ranked[:n]}


def geoip_families(store: QuerySource, settings: APISettings) -> list[Metric]:
    """geoip_bytes_{received,sent}_total{country,interface,ip_version} (geoip-exporter names)."""
    rows = _all_time(store, ["direction", "country", "interface", "ip_version"])
    keep = _top_keys(rows, "interface", settings.metrics_top_interfaces)
    sums: dict[tuple[int, str, str, str], int] = {}
    for r in rows:
        iface = str(r.key["interface"]) or "unknown"
        iface = iface if str(r.key["interface"]) in keep else OTHER
        key = (
            int(r.key["direction"]),
            str(r.key["country"]) or "UNKNOWN",
            iface,
            str(r.key["ip_version"]),
        )
        sums[key] = sums.get(key, 0) + r.bytes
    labels = ["country", "interface", "ip_version"]
    received = CounterMetricFamily(
        "geoip_bytes_received",
        "Bytes received (inbound: remote to local) by remote country, interface and IP "
        "version; all-time, from the store.",
        labels=labels,
    )
    sent = CounterMetricFamily(
        "geoip_bytes_sent",
        "Bytes sent (outbound: local to remote) by remote country, interface and IP version; "
        "all-time, from the store.",
        labels=labels,
    )
    for (direction, country, iface, version), value in sorted(sums.items()):
        if direction == Direction.INBOUND:
            received.add_metric([country, iface, version], value)
        elif direction == Direction.OUTBOUND:
            sent.add_metric([country, iface, version], value)
    return [received, sent]


def _per_key(
    rows: list[TopRow], dim: str, n: int, blank: str
) -> tuple[dict[tuple[str, str], list[int]], set[str]]:
    keep = _top_keys(rows, dim, n)
    sums: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        raw = str(r.key[dim])
        key = (raw or blank) if raw in keep else OTHER
        direction = DIRECTION_LABEL.get(int(r.key["direction"]), "unknown")
        acc = sums.setdefault((key, direction), [0, 0, 0])
        acc[0] += r.bytes
        acc[1] += r.packets
        acc[2] += r.flows
    return sums, keep


def peer_families(store: QuerySource, settings: APISettings) -> Iterator[Metric]:
    """trafficatlas_peer_{bytes,packets,flows}_total{peer,direction} and peer info."""
    rows = _all_time(store, ["peer", "direction"])
    sums, keep = _per_key(rows, "peer", settings.metrics_top_peers, "none")
    names = store.peer_names()
    yield from _value_families(
        "trafficatlas_peer",
        "peer",
        sums,
        "peer (stable id; 'none': no peer; 'other': beyond the top N)",
    )
    info = GaugeMetricFamily(
        "trafficatlas_peer_info",
        "Name of each peer with its own series (value 1).",
        labels=["peer", "name"],
    )
    for pid in sorted(k for k in keep if k):
        info.add_metric([pid, names.get(pid, pid)], 1)
    yield info


def asn_families(store: QuerySource, settings: APISettings) -> Iterator[Metric]:
    """trafficatlas_asn_{bytes,packets,flows}_total{asn,direction} and AS organizations."""
    rows = _all_time(store, ["asn", "direction"])
    sums, keep = _per_key(rows, "asn", settings.metrics_top_asns, "0")
    orgs = {str(r.key["asn"]): r.attrs.get("as_org") for r in rows}
    yield from _value_families(
        "trafficatlas_asn",
        "asn",
        sums,
        "remote AS number ('0' unknown; 'other': beyond the top N)",
    )
    info = GaugeMetricFamily(
        "trafficatlas_asn_info",
        "Organization of each AS with its own series (value 1).",
        labels=["asn", "organization"],
    )
    for asn in sorted((k for k in keep if k != "0"), key=int):
        info.add_metric([asn, str(orgs.get(asn) or "")], 1)
    yield info


def _value_families(
    prefix: str, dim: str, sums: dict[tuple[str, str], list[int]], what: str
) -> Iterator[Metric]:
    for i, unit in enumerate(("bytes", "packets", "flows")):
        fam = CounterMetricFamily(
            f"{prefix}_{unit}",
            f"{unit.capitalize()} by {what} and direction (sent, received, internal, "
            "unknown); all-time, from the store.",
            labels=[dim, "direction"],
        )
        for (key, direction), values in sorted(sums.items()):
            fam.add_metric([key, direction], values[i])
        yield fam


def total_families(store: QuerySource) -> Iterator[Metric]:
    """trafficatlas_traffic_{bytes,packets,flows}_total{direction}."""
    rows = _all_time(store, ["direction"])
    for unit in ("bytes", "packets", "flows"):
        fam = CounterMetricFamily(
            f"trafficatlas_traffic_{unit}",
            f"All {unit} stored, by direction; all-time, from the store.",
            labels=["direction"],
        )
        for r in rows:
            fam.add_metric(
                [DIRECTION_LABEL.get(int(r.key["direction"]), "unknown")], getattr(r, unit)
            )
        yield fam
