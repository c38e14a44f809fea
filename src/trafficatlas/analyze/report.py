"""A self-contained HTML report: a world map of traffic by country and the ranked table.

No script, no network: the map is an inline SVG (Natural Earth 1:110m outlines, equirectangular)
with a log-scale fill and a tooltip per country (flag, name, bytes, percent); the table follows.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from trafficatlas.analyze.offline import AnalysisResult
from trafficatlas.cli.render import human_bytes
from trafficatlas.enrich.countries import country_flag, country_name
from trafficatlas.errors import ConfigError

WIDTH, HEIGHT = 1000, 500
# dark-theme ramp from "little" to "most" traffic
RAMP = ("#1d3557", "#26547c", "#2a7f9e", "#35a7a4", "#7fc97f", "#e6c229", "#f17105", "#d11149")


def load_world() -> dict[str, Any]:
    """Country outlines shipped in the package (see scripts/build_world_map.py)."""
    text = resources.files("trafficatlas.analyze").joinpath("data/world.json").read_text()
    world: dict[str, Any] = json.loads(text)
    return world


def _xy(lon: float, lat: float) -> tuple[float, float]:
    return (lon + 180.0) / 360.0 * WIDTH, (90.0 - lat) / 180.0 * HEIGHT


def _path(rings: list[list[list[float]]]) -> str:
    parts = []
    for ring in rings:
        pts = [_xy(lon, lat) for lon, lat in ring]
        parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
    return "".join(parts)


def _color(value: int, top: int) -> str:
    if value <= 0 or top <= 0:
        return "#2b2f3a"
    frac = math.log1p(value) / math.log1p(top)
    return RAMP[min(int(frac * len(RAMP)), len(RAMP) - 1)]


def map_svg(by_country: dict[str, dict[str, Any]], total: int) -> str:
    """The SVG map; ``by_country`` maps ISO code → row (bytes, packets, flows, percent)."""
    world = load_world()
    top = max((int(r["bytes"]) for r in by_country.values()), default=0)
    shapes = []
    for code, country in world["countries"].items():
        row = by_country.get(code)
        value = int(row["bytes"]) if row else 0
        flag = country_flag(code) or ""
        tip = f"{flag} {country['name']} ({code})"
        if row:
            tip += f"\n{human_bytes(value)} ({value:,} B), {row['percent']:.2f}% of {human_bytes(total)}"
            tip += f"\n{row['packets']:,} packets, {row['flows']:,} flows"
        else:
            tip += "\nno traffic"
        shapes.append(
            f'<path d="{_path(country["rings"])}" fill="{_color(value, top)}" '
            f'data-country="{code}"><title>{html.escape(tip)}</title></path>'
        )
    bubbles = []
    for code, row in sorted(by_country.items(), key=lambda kv: -int(kv[1]["bytes"])):
        country = world["countries"].get(code)
        if country is None or not top:
            continue
        x, y = _xy(*country["label"])
        r = 2 + 14 * math.sqrt(int(row["bytes"]) / top)
        bubbles.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" class="bubble">'
            f"<title>{html.escape(country_name(code) or code)}: {human_bytes(int(row['bytes']))}"
            "</title></circle>"
        )
    legend = "".join(
        f'<rect x="{20 + i * 28}" y="{HEIGHT - 30}" width="28" height="10" fill="{c}"/>'
        for i, c in enumerate(RAMP)
    )
    legend += (
        f'<text x="20" y="{HEIGHT - 36}" class="legend">less</text>'
        f'<text x="{20 + len(RAMP) * 28}" y="{HEIGHT - 36}" text-anchor="end" class="legend">'
        f"more (log scale, up to {human_bytes(top)})</text>"
    )
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Traffic by country">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#11151c"/>{"".join(shapes)}'
        f"{''.join(bubbles)}{legend}</svg>"
    )


def write_html(
    path: Path,
    result: AnalysisResult,
    by_country: AnalysisResult | None = None,
    attribution: str = "",
) -> None:
    """Write the report; ``by_country`` (an analysis by country) feeds the map."""
    source = by_country if by_country is not None else result
    if "country" not in source.by:
        raise ConfigError("the HTML map needs an analysis by country")
    countries = {
        str(r["key"]["country"]): r
        for r in source.rows
        if r["key"]["country"] and len(str(r["key"]["country"])) == 2
    }
    t = result.totals
    rows_html = []
    for r in result.rows:
        cells = "".join(f"<td>{html.escape(_cell(k, v))}</td>" for k, v in r["key"].items())
        rows_html.append(
            f"<tr>{cells}<td title='{r['bytes']:,} B'>{human_bytes(r['bytes'])}</td>"
            f"<td>{r['packets']:,}</td><td>{r['flows']:,}</td><td>{r['percent']:.2f}</td>"
            f"<td>{r['cumulative_percent']:.2f}</td></tr>"
        )
    head = "".join(f"<th>{html.escape(d)}</th>" for d in result.by)
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(result.skipped.items())) or "nothing"
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trafficatlas report</title>
<style>
body {{ background:#0b0e13; color:#e6e9ef; font:14px/1.4 system-ui,sans-serif; margin:1.5rem; }}
h1 {{ font-size:1.3rem; }} svg {{ width:100%; height:auto; border-radius:8px; }}
path {{ stroke:#0b0e13; stroke-width:0.4; }} path:hover {{ stroke:#fff; stroke-width:1; }}
.bubble {{ fill:rgba(255,255,255,0.25); stroke:#fff; stroke-width:0.6; }}
.legend {{ fill:#aab; font-size:11px; }}
table {{ border-collapse:collapse; margin-top:1rem; width:100%; }}
th, td {{ padding:4px 8px; border-bottom:1px solid #222a36; text-align:right; }}
th:first-child, td:first-child {{ text-align:left; }} footer {{ color:#8892a6; margin-top:1rem; }}
</style></head><body>
<h1>Traffic by {html.escape(", ".join(result.by))}</h1>
<p>{human_bytes(t["bytes"])} ({t["bytes"]:,} bytes), {t["packets"]:,} packets, {t["flows"]:,} flows
from {len(result.inputs)} input(s). Skipped: {html.escape(skipped)}.</p>
{map_svg(countries, int(source.totals["bytes"]))}
<table><thead><tr>{head}<th>bytes</th><th>packets</th><th>flows</th><th>%bytes</th>
<th>cumul%</th></tr></thead><tbody>{"".join(rows_html)}</tbody></table>
<footer>Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} by trafficatlas analyze.
{html.escape(attribution)} Map: Natural Earth (public domain).</footer>
</body></html>
"""
    try:
        path.write_text(doc, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def _cell(dim: str, value: Any) -> str:
    if value is None:
        return "-"
    if dim in ("country", "src_country", "dst_country") and len(str(value)) == 2:
        flag = country_flag(str(value)) or ""
        return f"{flag} {value} {country_name(str(value)) or ''}".strip()
    return str(value)
