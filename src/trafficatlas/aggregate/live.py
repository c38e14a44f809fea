"""The live view: the last few minutes of traffic in memory, per second, for maps and feeds.

Each second holds NumPy columns grouped by (peer, direction, country, asn, location record) with
bytes, packets and flows; windows sum the seconds they cover. Nothing per group is a Python
object while it is kept (that would load the garbage collector on the ingest path): city names
and coordinates (and AS organizations) are resolved only when a window is read. Memory is
bounded by ``window_s`` seconds of grouped rows.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.groupby import group_sum
from trafficatlas.enrich.countries import decode_country


@dataclass(slots=True)
class LiveRow:
    peer: int
    direction: int
    country: str
    asn: int
    as_org: str | None
    city: str
    latitude: float | None
    longitude: float | None
    bytes: int
    packets: int
    flows: int


@dataclass(slots=True)
class _Second:
    second: int
    layers: Any  # the GeoIP layers the location keys refer to
    cols: dict[str, npt.NDArray[Any]]


KEYS = ("peer", "direction", "country", "asn", "city")
VALUES = ("bytes", "packets", "flows")


class AsnOrgs:
    """AS number → organization from the ASN layers of one GeoIP snapshot (first layer wins).

    Built once per snapshot: per layer, its distinct AS numbers sorted with the organization of
    their first record, so a window's numbers are looked up with one ``searchsorted`` per layer.
    """

    def __init__(self, layers: Any) -> None:
        self._tables: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]] = []
        for db in getattr(layers, "asn", ()):
            cols = db.table.records.columns
            if "asn" not in cols or "as_org" not in cols or not len(cols["asn"]):
                continue
            numbers, first = np.unique(np.asarray(cols["asn"]), return_index=True)
            orgs = np.asarray(cols["as_org"], dtype=object)[first]
            self._tables.append((numbers, orgs))

    def names(self, asns: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Organization per AS number (None unknown, and for 0)."""
        asns = np.asarray(asns)
        out = np.full(len(asns), None, dtype=object)
        todo = asns != 0
        for numbers, orgs in self._tables:
            if not todo.any():
                break
            idx = np.minimum(np.searchsorted(numbers, asns), len(numbers) - 1)
            hit = todo & (numbers[idx] == asns)
            hit[hit] = np.array([o is not None for o in orgs[idx[hit]]], dtype=bool)
            out[hit] = orgs[idx[hit]]
            todo &= ~hit
        return out


class LiveView:
    """Per-second grouped traffic for the last ``window_s`` seconds (thread-safe)."""

    def __init__(self, window_s: int = 300) -> None:
        self.window_s = window_s
        self._seconds: deque[_Second] = deque()
        self._lock = threading.Lock()
        self._orgs: tuple[Any, AsnOrgs] | None = None  # for the latest layers snapshot

    def add(self, eb: Any, now: float | None = None) -> None:
        """Add an EnrichedBatch (pipeline live sink)."""
        f = eb.classified.flows
        if not len(f):
            return
        geo = eb.geo
        keys = {
            "peer": eb.classified.owner_id,
            "direction": f.direction,
            "country": geo.country,
            "asn": geo.asn,
            "city": geo.location_keys(),
        }
        vals = {"bytes": f.bytes, "packets": f.packets, "flows": f.flows.astype(np.uint64)}
        g, v = group_sum(keys, vals)
        cols = {**g, **v}
        second = int(now if now is not None else time.time())
        with self._lock:
            last = self._seconds[-1] if self._seconds else None
            if last is not None and last.second == second and last.layers is geo.layers:
                last.cols = {k: np.concatenate([last.cols[k], cols[k]]) for k in cols}
            else:
                self._seconds.append(_Second(second, geo.layers, cols))
            while self._seconds and self._seconds[0].second <= second - self.window_s:
                self._seconds.popleft()

    def _window(self, window_s: int | None, now: float | None) -> list[_Second]:
        cutoff = int(now if now is not None else time.time()) - (window_s or self.window_s)
        with self._lock:
            return [s for s in self._seconds if s.second > cutoff]

    def rows(self, window_s: int | None = None, now: float | None = None) -> list[LiveRow]:
        """The last ``window_s`` seconds (default: the whole window), summed per group."""
        out: list[LiveRow] = []
        # seconds that share a layers snapshot are summed together (the usual case: all of them)
        groups: dict[int, tuple[Any, list[dict[str, npt.NDArray[Any]]]]] = {}
        for s in self._window(window_s, now):
            groups.setdefault(id(s.layers), (s.layers, []))[1].append(s.cols)
        for layers, parts in groups.values():
            keys = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
            vals = {k: np.concatenate([p[k] for p in parts]) for k in VALUES}
            g, v = group_sum(keys, vals)
            orgs = self._asn_orgs(layers).names(g["asn"])
            for i in range(len(g["peer"])):
                city, lat, lon = layers.place(int(g["city"][i]))
                out.append(
                    LiveRow(
                        peer=int(g["peer"][i]),
                        direction=int(g["direction"][i]),
                        country=decode_country(int(g["country"][i])) or "",
                        asn=int(g["asn"][i]),
                        as_org=orgs[i],
                        city=city,
                        latitude=lat,
                        longitude=lon,
                        bytes=int(v["bytes"][i]),
                        packets=int(v["packets"][i]),
                        flows=int(v["flows"][i]),
                    )
                )
        return out

    def _asn_orgs(self, layers: Any) -> AsnOrgs:
        cached = self._orgs
        if cached is not None and cached[0] is layers:
            return cached[1]
        orgs = AsnOrgs(layers)
        self._orgs = (layers, orgs)  # a reload swaps the layers: built again on the next read
        return orgs

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
        return sorted(((k, a[0], a[1], a[2]) for k, a in acc.items()), key=lambda t: -t[1])
