"""`trafficatlas analyze` over the real exporter corpus: totals and 5-tuples equal the truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.mmdb_fixtures import GeoFact, write_geo_db

FLOWS = Path(__file__).parents[1] / "fixtures" / "flows"
TRUTH_TOTALS = {"flows": 9, "packets": 1304, "bytes": 1_378_170}
PROTO = {"1": "icmp", "6": "tcp", "17": "udp"}
SAMPLES = [
    "basic-softflowd-v5",
    "basic-softflowd-v9",
    "basic-softflowd-v10",
    "basic-softflowd-ipfix-biflow",
    "basic-pmacct-nfprobe-v9",
    "basic-pmacct-nfprobe-v10",
]


def analyze(*args: str, tmp: Path) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-m", "trafficatlas", "analyze", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"TRAFFICATLAS_DATA_DIR": str(tmp), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


def truth(name: str = "basic-wan") -> set[tuple[str, str, int, str, int, int, int]]:
    rows = set()
    for line in (FLOWS / "traffic" / f"{name}.truth.tsv").read_text().splitlines():
        parts = line.split("\t")
        if parts[0] in ("TOTAL", "proto") or len(parts) < 7:
            continue
        proto, src, sport, dst, dport, pkts, byts = parts
        rows.add((PROTO[proto], src, int(sport), dst, int(dport), int(pkts), int(byts)))
    return rows


def five_tuples(result: dict[str, object]) -> set[tuple[str, str, int, str, int, int, int]]:
    rows = result["rows"]
    assert isinstance(rows, list)
    return {
        (
            r["key"]["proto"],
            r["key"]["src_ip"],
            r["key"]["sport"],
            r["key"]["dst_ip"],
            r["key"]["dport"],
            r["packets"],
            r["bytes"],
        )
        for r in rows
    }


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("form", ["export.pcap", "bin"])
def test_totals_and_five_tuples_equal_truth(sample: str, form: str, tmp_path: Path) -> None:
    path = FLOWS / "datagrams" / (f"{sample}.export.pcap" if form == "export.pcap" else sample)
    result = analyze(
        str(path), "--by", "proto,src_ip,sport,dst_ip,dport", "--top", "100", tmp=tmp_path
    )
    assert result["totals"] == TRUTH_TOTALS
    got = five_tuples(result)
    want = truth()
    if "pmacct" in sample:
        assert got == want
    elif "biflow" in sample:
        # softflowd sends reverse ICMP type/code as 0: the port-unreachable reply shows dport 0
        assert got == {
            (*r[:4], 0 if r[:1] == ("icmp",) and r[4] == 771 else r[4], *r[5:]) for r in want
        }
    else:
        assert got == want
    skipped = result["skipped"]
    assert isinstance(skipped, dict)
    assert not any(k.startswith("decode_error") for k in skipped)


def test_sflow_sample_counts_every_sampled_frame(tmp_path: Path) -> None:
    result = analyze(
        str(FLOWS / "datagrams" / "basic-pmacct-sfprobe-sflow5.export.pcap"), tmp=tmp_path
    )
    # 1300 flow samples at rate 1 (pmacctd stopped before the last 4 pings); bytes are the
    # sampled frames as captured, × the rate
    assert result["totals"] == {"flows": 1300, "packets": 1300, "bytes": 1_396_034}


def test_options_records_are_not_flows_and_are_reported(tmp_path: Path) -> None:
    result = analyze(str(FLOWS / "datagrams" / "basic-softflowd-v10.export.pcap"), tmp=tmp_path)
    assert result["totals"] == TRUTH_TOTALS
    assert result["skipped"] == {"options_records": 1, "implausible_timestamps": 9}


def test_traffic_capture_by_country_with_fixture_db(tmp_path: Path) -> None:
    db = tmp_path / "geo.mmdb"
    write_geo_db(
        db,
        "flat",
        {"198.51.100.0/24": GeoFact("CH", asn=64501), "203.0.113.0/24": GeoFact("JP", asn=64502)},
    )
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[geoip]\nuse_bundled = false\nlookup_reserved = ["198.51.100.0/24", "203.0.113.0/24"]\n'
        '[classify]\nwan_addresses = ["198.51.100.1"]\n'
    )
    result = analyze(
        str(FLOWS / "traffic" / "basic-wan.pcap"),
        "--geoip-db",
        str(db),
        "-c",
        str(cfg),
        tmp=tmp_path,
    )
    rows = {r["key"]["country"]: r for r in result["rows"]}  # type: ignore[union-attr, index]
    # the router's WAN address is local: every flow's remote side is the server, CH or JP
    assert set(rows) == {"CH", "JP"}
    assert sum(r["bytes"] for r in rows.values()) == TRUTH_TOTALS["bytes"]
    assert rows["CH"]["cumulative_percent"] <= 100.0
    by_truth: dict[str, int] = {}
    for _proto, src, _sp, dst, _dp, _p, b in truth():
        remote = dst if src == "198.51.100.1" else src
        by_truth["CH" if remote.startswith("198.51.100.") else "JP"] = (
            by_truth.get("CH" if remote.startswith("198.51.100.") else "JP", 0) + b
        )
    assert {k: r["bytes"] for k, r in rows.items()} == by_truth


def test_top_limit_reports_other(tmp_path: Path) -> None:
    result = analyze(
        str(FLOWS / "traffic" / "basic-wan.pcap"), "--by", "dport", "--top", "2", tmp=tmp_path
    )
    assert result["limit"] == 2
    assert len(result["rows"]) == 2  # type: ignore[arg-type]
    other = result["other"]
    assert isinstance(other, dict)
    shown = sum(r["bytes"] for r in result["rows"])  # type: ignore[union-attr]
    assert shown + other["bytes"] == TRUTH_TOTALS["bytes"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--by", "nonsense"], "unknown dimension"),
        (["/nonexistent.pcap"], "no such file"),
    ],
)
def test_bad_arguments_are_clear(tmp_path: Path, args: list[str], needle: str) -> None:
    base = [] if args[0].startswith("/") else [str(FLOWS / "traffic" / "basic-wan.pcap")]
    res = subprocess.run(
        [sys.executable, "-m", "trafficatlas", "analyze", *base, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRAFFICATLAS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_not_a_capture_is_clear(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture" * 10)
    res = subprocess.run(
        [sys.executable, "-m", "trafficatlas", "analyze", str(junk)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"TRAFFICATLAS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 2
    assert "junk.pcap" in res.stderr
    assert "Traceback" not in res.stderr
