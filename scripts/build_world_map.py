"""Rebuild src/trafficatlas/analyze/data/world.json from the world-atlas npm package.

world-atlas (ISC license) packages Natural Earth's 1:110m country shapes (public domain) as
TopoJSON keyed by ISO 3166-1 numeric code. This script fetches a pinned version with `npm pack`,
checks its integrity, decodes the TopoJSON arcs and writes country outlines keyed by ISO alpha-2
with coordinates rounded to 0.1°, plus a label point per country (the centre of its largest ring).

Usage: uv run python scripts/build_world_map.py [--tarball FILE.tgz]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from trafficatlas.enrich.countries import COUNTRY_NAMES, COUNTRY_NUMERIC

PACKAGE = "world-atlas"
VERSION = "2.0.2"
INTEGRITY = "sha512-IXfV0qwlKXpckz1FhwXVwKRjiIhOnWttOskm5CtxMsjgE/MXAYRHWJqgXOpM8IkcPBoXnyTU5lFHcYa5ChG0LQ=="
OUT = Path(__file__).parents[1] / "src" / "trafficatlas" / "analyze" / "data" / "world.json"
# Natural Earth areas without an ISO numeric code in world-atlas, keyed by their name
BY_NAME = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}


def fetch(tarball: Path | None, tmp: Path) -> dict[str, Any]:
    if tarball is None:
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = next(tmp.glob("*.tgz"))
    data = tarball.read_bytes()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != INTEGRITY:
        raise SystemExit(f"integrity mismatch for {tarball}: {digest}")
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/countries-110m.json")
        assert member is not None
        topo: dict[str, Any] = json.load(member)
    return topo


def decode_arcs(topo: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """TopoJSON quantized, delta-encoded arcs → absolute lon/lat points."""
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)
    return arcs


def ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        pts.extend(arc[1:] if pts else arc)
    return pts


def area(r: list[tuple[float, float]]) -> float:
    return (
        abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(r, r[1:] + r[:1], strict=True))) / 2
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tarball", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        topo = fetch(args.tarball, Path(tmp))
    arcs = decode_arcs(topo)
    by_numeric = {num: a2 for a2, num in COUNTRY_NUMERIC.items()}
    countries: dict[str, Any] = {}
    for geom in topo["objects"]["countries"]["geometries"]:
        name = geom["properties"]["name"]
        code = by_numeric.get(str(geom.get("id", ""))) or BY_NAME.get(name)
        if code is None:
            continue  # Antarctica's numeric id is kept (AQ); others without a code are skipped
        polys = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        rings = [ring(arcs, r) for poly in polys for r in poly]
        entry = countries.setdefault(code, {"name": COUNTRY_NAMES.get(code, name), "rings": []})
        entry["rings"].extend([[round(x, 1), round(y, 1)] for x, y in r] for r in rings)
    for entry in countries.values():
        biggest = max(entry["rings"], key=lambda r: area([tuple(p) for p in r]))
        xs = [p[0] for p in biggest]
        ys = [p[1] for p in biggest]
        entry["label"] = [round((min(xs) + max(xs)) / 2, 1), round((min(ys) + max(ys)) / 2, 1)]
    doc = {
        "source": f"Natural Earth 1:110m via {PACKAGE} {VERSION} (ISC); shapes public domain",
        "countries": dict(sorted(countries.items())),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {len(countries)} countries)")


if __name__ == "__main__":
    main()
