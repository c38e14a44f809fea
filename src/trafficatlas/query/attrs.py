"""Display attributes of result keys: country and peer names, AS organizations, city
coordinates, direction names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trafficatlas.enrich.countries import country_name
from trafficatlas.flowbatch import Direction
from trafficatlas.query.models import AttrValue, KeyValue
from trafficatlas.store.dialect import Params
from trafficatlas.store.protocol import QuerySource

_CHUNK = 500


def _in_chunks(source: QuerySource, sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(values), _CHUNK):
        params = Params(source.dialect)
        in_list = params.many(values[i : i + _CHUNK])
        out.extend(source.fetch(sql.format(in_list=in_list), params.bound()))
    return out


def key_attrs(
    source: QuerySource, keys: Sequence[dict[str, KeyValue]]
) -> list[dict[str, AttrValue]]:
    """Attributes for each key dict (same order)."""
    attrs: list[dict[str, AttrValue]] = [{} for _ in keys]
    if not keys:
        return attrs
    cols = keys[0].keys()
    orgs: dict[int, str] = {}
    coords: dict[tuple[str, str], tuple[float, float]] = {}
    names: dict[str, str] = {}
    if "asn" in cols:
        asns = sorted({int(k["asn"]) for k in keys if k.get("asn")})
        rows = _in_chunks(source, "SELECT asn, org FROM asn_names WHERE asn IN {in_list}", asns)
        orgs = {int(a): str(o) for a, o in rows}
    if "city" in cols:
        cities = sorted({str(k["city"]) for k in keys if k.get("city")})
        sql = "SELECT country, city, lat, lon FROM cities WHERE city IN {in_list}"
        coords = {(c, n): (la, lo) for c, n, la, lo in _in_chunks(source, sql, cities)}
    if "peer" in cols:
        names = source.peer_names()
    for key, out in zip(keys, attrs, strict=True):
        if "country" in key:
            out["country_name"] = country_name(str(key["country"]))
        if "asn" in key:
            out["as_org"] = orgs.get(int(key["asn"]))
        if "city" in key:
            lat_lon = coords.get((str(key.get("country", "")), str(key["city"])))
            out["lat"], out["lon"] = lat_lon if lat_lon else (None, None)
        if "peer" in key:
            out["peer_name"] = names.get(str(key["peer"]))
        if "direction" in key:
            try:
                out["direction_name"] = Direction(int(key["direction"])).name.lower()
            except ValueError:
                out["direction_name"] = None
    return attrs
