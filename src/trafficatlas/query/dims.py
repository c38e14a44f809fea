"""Dimensions a query can group by, and the columns behind each (a whitelist: user input never
becomes SQL text)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from trafficatlas.query.errors import QueryError


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    columns: tuple[str, ...]
    description: str
    flows_only: bool = False  # only raw flow records have it (drill-down)


DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension("country", ("country",), "remote country (ISO code, '' unknown or local)"),
        Dimension("asn", ("asn",), "remote autonomous system number (0 unknown), with its org"),
        Dimension("city", ("country", "city"), "remote city within its country, with lat/lon"),
        Dimension("peer", ("peer",), "stable id of the local peer or host, with its name"),
        Dimension("direction", ("direction",), "outbound (sent), inbound (received), internal"),
        Dimension("exporter", ("exporter",), "exporter address or host name ('' local sources)"),
        Dimension("interface", ("interface",), "interface index or name"),
        Dimension("proto", ("proto",), "IP protocol number"),
        Dimension("ip_version", ("ip_version",), "4 or 6"),
        Dimension("source", ("source",), "source component (netflow, conntrack, wireguard...)"),
        Dimension("label", ("label",), "why an address was not geolocated (PRIVATE, LOCAL...)"),
        Dimension("remote_addr", ("remote_addr",), "remote IP address", flows_only=True),
        Dimension("remote_port", ("remote_port",), "remote port", flows_only=True),
        Dimension("local_addr", ("local_addr",), "local IP address", flows_only=True),
        Dimension("local_port", ("local_port",), "local port", flows_only=True),
    )
}


# The same names as types, for request parameters (a test keeps them equal to DIMENSIONS).
GroupDimension = Literal[
    "country",
    "asn",
    "city",
    "peer",
    "direction",
    "exporter",
    "interface",
    "proto",
    "ip_version",
    "source",
    "label",
]
# Flow detail adds the address columns (listed first: the drill-down's usual keys).
FlowDimension = Literal["remote_addr", "remote_port", "local_addr", "local_port", GroupDimension]


def key_columns(by: Iterable[str], *, flows: bool = False) -> tuple[str, ...]:
    """Distinct columns behind dimension names, in order; QueryError for unknown names."""
    cols: list[str] = []
    for name in by:
        dim = DIMENSIONS.get(name)
        if dim is None or (dim.flows_only and not flows):
            known = sorted(n for n, d in DIMENSIONS.items() if flows or not d.flows_only)
            raise QueryError(f"unknown dimension {name!r}; choose from {', '.join(known)}")
        for col in dim.columns:
            if col not in cols:
                cols.append(col)
    return tuple(cols)
