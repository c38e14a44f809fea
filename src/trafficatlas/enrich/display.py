"""Enriched addresses for people and JSON: one dict or one text line per address."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.countries import country_flag, country_name, decode_country
from trafficatlas.enrich.engine import GeoColumns
from trafficatlas.enrich.special import label_name
from trafficatlas.net import format_network


def geo_row(
    ip: str, cols: GeoColumns, strings: dict[str, npt.NDArray[Any]], j: int
) -> dict[str, Any]:
    """Row ``j`` of a lookup as a JSON-ready dict (``strings`` from GeoColumns.strings)."""
    code = decode_country(int(cols.country[j]))
    lat = float(cols.latitude[j])
    lon = float(cols.longitude[j])
    network = None
    if cols.net_version[j]:
        network = format_network(
            int(cols.net_version[j]),
            int(cols.net_hi[j]),
            int(cols.net_lo[j]),
            int(cols.net_prefix[j]),
        )
    asn = int(cols.asn[j])
    return {
        "ip": ip,
        "country": code,
        "country_name": country_name(code),
        "flag": country_flag(code),
        "city": strings["city"][j],
        "region": strings["region"][j],
        "latitude": None if np.isnan(lat) else lat,
        "longitude": None if np.isnan(lon) else lon,
        "asn": asn or None,
        "as_org": strings["as_org"][j],
        "network": network,
        "label": label_name(int(cols.label[j])),
    }


def format_row_text(row: dict[str, Any]) -> str:
    """One human-readable line for `trafficatlas lookup`."""
    if "error" in row:
        return f"{row['ip']}  error: {row['error']}"
    parts = [row["ip"]]
    if row["label"]:
        parts.append(row["label"])
    if row["country"]:
        flag = f"{row['flag']} " if row["flag"] else ""
        parts.append(f"{flag}{row['country']} {row['country_name'] or ''}".rstrip())
    if row["city"]:
        parts.append(row["city"])
    if row["latitude"] is not None:
        parts.append(f"({row['latitude']:.4f}, {row['longitude']:.4f})")
    if row["asn"]:
        parts.append(f"AS{row['asn']} {row['as_org'] or ''}".rstrip())
    if row["network"]:
        parts.append(row["network"])
    if len(parts) == 1:
        parts.append("unknown")
    return "  ".join(parts)
