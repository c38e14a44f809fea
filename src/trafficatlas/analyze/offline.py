"""Offline analysis: captures and exported datagrams → an rwstats-style table, no server.

Inputs are pcap/pcapng files (of exported flows or of ordinary traffic), files of raw exported
datagrams (``*.bin``, one datagram per file, in name order) and folders holding them. Flows are
classified (the remote side is the one geolocated) and enriched like the running pipeline does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.aggregate.groupby import group_sum
from trafficatlas.classify.classifier import Classifier
from trafficatlas.classify.settings import ClassifySettings
from trafficatlas.enrich.countries import country_name, decode_country
from trafficatlas.enrich.engine import GeoColumns, GeoIP
from trafficatlas.enrich.special import label_name
from trafficatlas.errors import ConfigError, DecodeError
from trafficatlas.flowbatch import Direction, FlowBatch
from trafficatlas.net import format_ip
from trafficatlas.sources.decode import DecoderSettings, FlowDecoder
from trafficatlas.sources.packets import read_capture
from trafficatlas.sources.state import ExporterRegistry

DIMENSIONS = (
    "country",
    "asn",
    "city",
    "src_ip",
    "dst_ip",
    "sport",
    "dport",
    "proto",
    "exporter",
    "direction",
    "ip_version",
    "src_country",
    "dst_country",
    "src_asn",
    "dst_asn",
)
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp")
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp"}


@dataclass(slots=True)
class AnalysisResult:
    """Totals, ranked rows and what was skipped (JSON-ready through :meth:`as_json`)."""

    by: list[str]
    totals: dict[str, int]
    rows: list[dict[str, Any]]
    skipped: dict[str, int] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    limit: int | None = None
    other: dict[str, Any] | None = None  # the rows beyond ``limit``, summed

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "by": self.by,
            "totals": self.totals,
            "rows": self.rows,
            "skipped": self.skipped,
            "inputs": self.inputs,
            "limit": self.limit,
        }
        if self.other is not None:
            out["other"] = self.other
        return out


def parse_dims(text: str) -> list[str]:
    """Comma-separated dimensions, checked (ConfigError names the bad one)."""
    dims = [d.strip().lower() for d in text.split(",") if d.strip()]
    if not dims:
        raise ConfigError("--by needs at least one dimension")
    for d in dims:
        if d not in DIMENSIONS:
            raise ConfigError(f"unknown dimension {d!r}; choose from {', '.join(DIMENSIONS)}")
    return dims


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files to read: captures and .bin datagrams, folders walked in name order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            files = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix in (*CAPTURE_SUFFIXES, ".bin")
            )
            if not files:
                raise ConfigError(f"no captures or .bin datagrams under {p}")
            out.extend(files)
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError(f"no such file: {p}")
    return out


def read_inputs(
    files: list[Path],
    decoder_settings: DecoderSettings | None = None,
    progress: Callable[[Path], None] | None = None,
) -> tuple[FlowBatch, dict[str, int], dict[int, str]]:
    """Decode every file; returns flows, skipped counts by kind and exporter names."""
    registry = ExporterRegistry()
    parts: list[FlowBatch] = []
    skipped: dict[str, int] = {}

    def count(kind: str, n: int) -> None:
        if n:
            skipped[kind] = skipped.get(kind, 0) + n

    bins = [f for f in files if f.suffix == ".bin"]
    bin_decoder = FlowDecoder(decoder_settings, registry) if bins else None
    for f in files:
        if progress is not None:
            progress(f)
        if f.suffix == ".bin":
            assert bin_decoder is not None
            try:
                data = f.read_bytes()
            except OSError as exc:
                count("unreadable_files", 1)
                raise ConfigError(f"cannot read {f}: {exc.strerror}") from None
            parts.append(bin_decoder.decode_many([(data, str(f.parent.name), f.stat().st_mtime)]))
            continue
        try:
            res = read_capture(f, settings=decoder_settings, registry=registry)
        except DecodeError as exc:
            raise DecodeError(f"{f}: {exc}", exc.kind) from None
        parts.append(res.batch)
        cap = res.capture
        count("truncated_records", cap.truncated_records)
        count("bad_records", cap.bad_records)
        count("non_ip_packets", res.packets.non_ip)
        count("unsupported_link", res.packets.unsupported_link)
        count("fragments", res.packets.fragments)
        if res.decoder is not None:
            _decoder_skips(res.decoder, count)
    if bin_decoder is not None:
        bin_decoder.flush_pending()
        _decoder_skips(bin_decoder.counters, count)
    return FlowBatch.concat(parts), skipped, dict(registry.items())


def _decoder_skips(c: Any, count: Callable[[str, int], None]) -> None:
    for kind, n in c.errors.items():
        count(f"decode_error:{kind}", n)
    count("unknown_template", c.unknown_template)
    count("options_records", c.options_records)
    count("implausible_timestamps", c.implausible_timestamps)
    count("non_ip_records", c.non_ip_records)


def analyze(
    flows: FlowBatch,
    by: list[str],
    geo: GeoIP,
    classify: ClassifySettings | None = None,
    exporters: dict[int, str] | None = None,
    limit: int | None = None,
) -> AnalysisResult:
    """Group flows by ``by`` and rank by bytes (percent and cumulative percent of the total)."""
    totals = flows.totals()
    if not len(flows):
        return AnalysisResult(by=by, totals=totals, rows=[], limit=limit)
    cb = Classifier(classify or ClassifySettings(), special=geo.special).classify(flows)
    f = cb.flows
    need_remote = any(d in by for d in ("country", "asn", "city"))
    remote = geo.lookup(cb.remote_version, cb.remote_hi, cb.remote_lo) if need_remote else None
    if remote is not None:
        remote.relabel(cb.remote_label)
    src = (
        geo.lookup(f.ip_version, f.src_hi, f.src_lo)
        if {"src_country", "src_asn"} & set(by)
        else None
    )
    dst = (
        geo.lookup(f.ip_version, f.dst_hi, f.dst_lo)
        if {"dst_country", "dst_asn"} & set(by)
        else None
    )
    keys: dict[str, npt.NDArray[Any]] = {}
    for d in by:
        keys[d] = _key_column(d, f, remote, src, dst)
    vals = {"bytes": f.bytes, "packets": f.packets, "flows": f.flows.astype(np.uint64)}
    g, v = group_sum(keys, vals)
    order = np.argsort(-v["bytes"].astype(np.float64), kind="stable")
    total_bytes = max(totals["bytes"], 1)
    rows: list[dict[str, Any]] = []
    cumulative = 0
    names = exporters or {}
    for i in order:
        b = int(v["bytes"][i])
        cumulative += b
        rows.append(
            {
                "key": {d: _display(d, g[d][i], remote, src, dst, names) for d in by},
                "bytes": b,
                "packets": int(v["packets"][i]),
                "flows": int(v["flows"][i]),
                "percent": round(100.0 * b / total_bytes, 4),
                "cumulative_percent": round(100.0 * cumulative / total_bytes, 4),
            }
        )
    other = None
    if limit is not None and len(rows) > limit:
        rest = rows[limit:]
        rows = rows[:limit]
        other = {
            "rows": len(rest),
            "bytes": sum(r["bytes"] for r in rest),
            "packets": sum(r["packets"] for r in rest),
            "flows": sum(r["flows"] for r in rest),
            "percent": round(100.0 * sum(r["bytes"] for r in rest) / total_bytes, 4),
        }
    return AnalysisResult(by=by, totals=totals, rows=rows, limit=limit, other=other)


def _key_column(
    d: str, f: FlowBatch, remote: GeoColumns | None, src: GeoColumns | None, dst: GeoColumns | None
) -> npt.NDArray[Any]:
    if d in ("country", "asn", "city"):
        assert remote is not None
        if d == "country":
            # geolocated rows by country code; the others by their label (PRIVATE, LOCAL...)
            return remote.country_or_label()
        if d == "asn":
            return remote.asn
        return remote.location_keys()
    if d in ("src_country", "dst_country"):
        geo = src if d == "src_country" else dst
        assert geo is not None
        return geo.country_or_label()
    if d in ("src_asn", "dst_asn"):
        geo = src if d == "src_asn" else dst
        assert geo is not None
        return geo.asn
    if d in ("src_ip", "dst_ip"):
        hi = f.src_hi if d == "src_ip" else f.dst_hi
        lo = f.src_lo if d == "src_ip" else f.dst_lo
        # one int key per address: IPv4 as itself, IPv6 hashed through a factorized pair
        pair = np.stack([hi, lo], axis=1)
        _, inv = np.unique(pair, axis=0, return_inverse=True)
        return inv.ravel().astype(np.int64)
    column = {
        "sport": f.sport,
        "dport": f.dport,
        "proto": f.proto,
        "exporter": f.exporter,
        "direction": f.direction,
        "ip_version": f.ip_version,
    }[d]
    return np.asarray(column)


def _display(
    d: str,
    value: Any,
    remote: GeoColumns | None,
    src: GeoColumns | None,
    dst: GeoColumns | None,
    exporters: dict[int, str],
) -> Any:
    v = int(value)
    if d in ("country", "src_country", "dst_country"):
        if v > 0:
            return decode_country(v)
        return label_name(-v)
    if d in ("asn", "src_asn", "dst_asn"):
        return v or None
    if d == "city":
        if v < 0 or remote is None:
            return None
        return remote.layers.place(v)[0] or None
    if d == "proto":
        return PROTO_NAMES.get(v, str(v))
    if d == "direction":
        return Direction(v).name.lower()
    if d == "exporter":
        return exporters.get(v, str(v) if v else None)
    return v


def resolve_ips(result: AnalysisResult, flows: FlowBatch, by: list[str]) -> None:
    """Replace src_ip/dst_ip key codes by the addresses' text (done after grouping)."""
    for d in ("src_ip", "dst_ip"):
        if d not in by:
            continue
        hi = flows.src_hi if d == "src_ip" else flows.dst_hi
        lo = flows.src_lo if d == "src_ip" else flows.dst_lo
        pair = np.stack([hi, lo], axis=1)
        uniq, first = np.unique(pair, axis=0, return_index=True)
        texts = [
            format_ip(int(flows.ip_version[i]), int(h), int(lo_))
            for (h, lo_), i in zip(uniq, first, strict=True)
        ]
        for row in result.rows:
            row["key"][d] = texts[int(row["key"][d])]


def country_label(code: str | None) -> str:
    """'US United States' for display (labels like PRIVATE as they are)."""
    if code is None:
        return "-"
    name = country_name(code)
    return f"{code} {name}" if name else code
