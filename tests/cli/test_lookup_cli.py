"""`trafficatlas lookup` and `geoip info` as a user runs them (a real subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

from support.mmdb_fixtures import write_geo_db


def run(
    *args: str, stdin: str | None = None, env_home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = None
    if env_home is not None:
        import os

        env = {**os.environ, "XDG_DATA_HOME": str(env_home), "TRAFFICATLAS_DATA_DIR": str(env_home)}
    return subprocess.run(
        [sys.executable, "-m", "trafficatlas", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_acceptance_lookup_json_from_bundled_data(tmp_path: Path) -> None:
    res = run("lookup", "8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "--json", env_home=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    keys = {
        "ip",
        "country",
        "country_name",
        "city",
        "latitude",
        "longitude",
        "asn",
        "as_org",
        "network",
    }
    assert all(keys <= set(r) for r in rows)
    assert (rows[0]["country"], rows[0]["asn"]) == ("US", 15169)
    assert (rows[1]["country"], rows[1]["asn"]) == ("AU", 13335)
    assert rows[2]["country"] and rows[2]["asn"] == 15169
    assert rows[0]["city"] is None and rows[0]["latitude"] is None  # no city data bundled


def test_lookup_reads_stdin_and_text_output(tmp_path: Path) -> None:
    res = run("lookup", stdin="# comment\n8.8.8.8\n\n10.0.0.1\n", env_home=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("8.8.8.8") and "AS15169" in lines[0] and "US" in lines[0]
    assert lines[1] == "10.0.0.1  PRIVATE"


def test_bad_address_is_reported_and_exit_status_set(tmp_path: Path) -> None:
    res = run("lookup", "8.8.8.8", "999.1.1.1", "--json", env_home=tmp_path)
    assert res.returncode == 1
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert rows[1] == {"ip": "999.1.1.1", "error": "not an IP address: '999.1.1.1'"}
    assert "Traceback" not in res.stderr


def test_extra_database_and_corrupt_database(tmp_path: Path) -> None:
    city = tmp_path / "city.mmdb"
    write_geo_db(city, "flat")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[geoip]\nlookup_reserved = ["192.0.2.0/24"]\n')
    res = run(
        "lookup", "--geoip-db", str(city), "-c", str(cfg), "192.0.2.1", "--json", env_home=tmp_path
    )
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout)
    assert (row["country"], row["city"], row["asn"]) == ("DE", "Berlin", 64496)
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(city.read_bytes()[:300])
    res = run("lookup", "--geoip-db", str(bad), "1.1.1.1", env_home=tmp_path)
    assert res.returncode == 2
    assert res.stderr.startswith("error:") and "bad.mmdb" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_config_is_one_line_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[geoip]\nnope = 1\n")
    res = run("lookup", "-c", str(cfg), "1.1.1.1", env_home=tmp_path)
    assert res.returncode == 2
    assert "geoip.nope" in res.stderr and "Traceback" not in res.stderr


def test_geoip_info_json_shows_attribution(tmp_path: Path) -> None:
    res = run("geoip", "info", "--json", env_home=tmp_path)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    names = [d["name"] for d in info["databases"]]
    assert names == ["bundled-country", "bundled-asn"]
    assert all(
        d["license"] and d["build_date"] and d["networks"] > 100_000 for d in info["databases"]
    )
    assert "DB-IP" in info["attribution"] and "CC BY 4.0" in info["attribution"]
    text = run("geoip", "info", env_home=tmp_path)
    assert "bundled-country" in text.stdout and "CC BY 4.0" in text.stdout
