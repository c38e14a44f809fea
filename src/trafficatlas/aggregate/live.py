"""The live view: the last few minutes of traffic in memory, per second, for maps and feeds.

Each second holds rows grouped by (peer, direction, country, asn, city) with bytes, packets and
flows, plus the coordinates of every city seen; windows sum the seconds they cover. Memory is
bounded by ``window_s`` seconds of grouped rows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from trafficatlas.aggregate.groupby import group_sum
from trafficatlas.enrich.countries import decode_country


@dataclass(slots=True)
class LiveRow:
    peer: int
    direction: int
    country: str
    asn: int
    city: str
    latitude: float | None
    longitude: float | None
    bytes: int
    packets: int
    flows: int


class LiveView:
    """Per-second grouped traffic for the last ``window_s`` seconds (thread-safe)."""

    def __init__(self, window_s: int = 300) -> None:
        self.window_s = window_s
        self._seconds: deque[tuple[int, list[LiveRow]]] = deque()
        self._lock = threading.Lock()

    def add(self, eb: Any, now: float | None = None) -> None:
        """Add an EnrichedBatch (pipeline live sink)."""
        f = eb.classified.flows
        if not len(f):
            return
        geo = eb.geo
        city_key = np.where(
            geo.loc_db >= 0,
            (geo.loc_db.astype(np.int64) << 32) | geo.loc_rec.astype(np.int64),
            -1,
        )
        keys = {
            "peer": eb.classified.owner_id,
            "direction": f.direction,
            "country": geo.country,
            "asn": geo.asn,
            "city": city_key,
        }
        vals = {"bytes": f.bytes, "packets": f.packets, "flows": f.flows.astype(np.uint64)}
        g, v = group_sum(keys, vals)
        rows: list[LiveRow] = []
        layers = geo.layers
        for i in range(len(g["peer"])):
            ck = int(g["city"][i])
            city = ""
            lat = lon = None
            if ck >= 0:
                cols = layers.location[ck >> 32].table.records.columns
                rec = ck & 0xFFFF_FFFF
                city = str(cols["city"][rec] or "") if "city" in cols else ""
                if "latitude" in cols and not np.isnan(cols["latitude"][rec]):
                    lat = float(cols["latitude"][rec])
                    lon = float(cols["longitude"][rec])
            rows.append(
                LiveRow(
                    peer=int(g["peer"][i]),
                    direction=int(g["direction"][i]),
                    country=decode_country(int(g["country"][i])) or "",
                    asn=int(g["asn"][i]),
                    city=city,
                    latitude=lat,
                    longitude=lon,
                    bytes=int(v["bytes"][i]),
                    packets=int(v["packets"][i]),
                    flows=int(v["flows"][i]),
                )
            )
        second = int(now if now is not None else time.time())
        with self._lock:
            if self._seconds and self._seconds[-1][0] == second:
                self._seconds[-1][1].extend(rows)
            else:
                self._seconds.append((second, rows))
            self._expire(second)

    def _expire(self, now: int) -> None:
        while self._seconds and self._seconds[0][0] <= now - self.window_s:
            self._seconds.popleft()

    def rows(self, window_s: int | None = None, now: float | None = None) -> list[LiveRow]:
        """Every row of the last ``window_s`` seconds (default: the whole window)."""
        cutoff = int(now if now is not None else time.time()) - (window_s or self.window_s)
        with self._lock:
            return [r for second, rows in self._seconds if second > cutoff for r in rows]

    def by_country(
        self, window_s: int | None = None, now: float | None = None
    ) -> list[tuple[str, int, int, int]]:
        """(country, bytes, packets, flows) over the window, largest first ("" = not geolocated)."""
        acc: dict[str, list[int]] = {}
        for r in self.rows(window_s, now):
            a = acc.setdefault(r.country, [0, 0, 0])
            a[0] += r.bytes
            a[1] += r.packets
            a[2] += r.flows
        return sorted(((k, *v) for k, v in acc.items()), key=lambda t: -t[1])  # type: ignore[misc]
