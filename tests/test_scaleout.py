"""Scale-out end to end: two collector processes and one API process on one ClickHouse server.

Real processes (`trafficatlas serve --role ...`), real NetFlow v9 over loopback UDP, Debian's
clickhouse-server on its own loopback port. The server is stopped for 30 s while both collectors
receive: their batches wait in the spool and are replayed when it returns. Afterwards the API
node's totals equal the sum of what both collectors were sent — nothing lost, nothing twice —
and each collector's rows are tagged with its node id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trafficatlas.demo.exportgen import ExportEncoder, FlowSpec
from trafficatlas.net import parse_ip

from support.chserver import ClickHouseServer, free_port, server_binary
from support.mmdb_fixtures import write_geo_db

pytestmark = pytest.mark.slow

DOC = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]
SEND_S = 45.0  # sending time; the server is down from OUTAGE[0] to OUTAGE[1] into it
OUTAGE = (6.0, 36.0)
DATABASE = "scaleout"
# What the fixture database says of the destinations (192.0.2.1-254 covers DE, FR and CH).
EXPECTED_COUNTRIES = {"DE", "FR", "CH", "US", "JP"}


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def write_config(
    path: Path, role: str, data_dir: Path, db: Path, ch_port: int, **more: Any
) -> None:
    """A node's TOML: the shared ClickHouse store, a 10 s interval, quick retries."""
    node = more.pop("node", role)
    lines = [
        f"data_dir = {_toml(str(data_dir))}",
        f"role = {_toml(role)}",
        "[log]",
        'level = "warning"',
        "[geoip]",
        "use_bundled = false",
        f"databases = [{{ path = {_toml(str(db))} }}]",
        f"lookup_reserved = {_toml(DOC)}",
        "[aggregate]",
        "interval_s = 10",
        "[pipeline]",
        "flush_interval_s = 0.5",
        "[store]",
        'engine = "clickhouse"',
        "interval_s = 10",
        "[store.clickhouse]",
        f"port = {ch_port}",
        f"database = {_toml(DATABASE)}",
        f"node_id = {_toml(node)}",
        "connect_timeout_s = 1.0",
        "send_receive_timeout_s = 5.0",
        "[store.spool]",
        "retry_s = 0.5",
        "[http]",
        'host = "127.0.0.1"',
        f"port = {more.pop('http_port')}",
    ]
    if "udp_port" in more:
        port = more.pop("udp_port")
        lines[lines.index("[pipeline]") : lines.index("[pipeline]")] = [
            "[collector]",
            "enabled = true",
            f'listen = [{{ host = "127.0.0.1", port = {port} }}]',
            "receive_process = true",
        ]
    assert not more, more
    path.write_text("\n".join(lines) + "\n")


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trafficatlas", *args]


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            cli("serve", "-c", str(config)), stdout=out, stderr=subprocess.STDOUT
        )


def get_json(url: str, token: str | None = None, timeout: float = 5.0) -> Any:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def flows(rng: np.random.Generator, n: int, now_ms: int) -> FlowSpec:
    """``n`` IPv4 flows from the LAN (10.8.0.0/24) to the documentation ranges."""
    src = np.array([parse_ip(f"10.8.0.{i}")[2] for i in rng.integers(2, 200, n)], np.uint64)
    dst_nets = ["192.0.2", "198.51.100", "203.0.113"]
    dst = np.array(
        [
            parse_ip(f"{dst_nets[int(k) % 3]}.{int(h)}")[2]
            for k, h in zip(rng.integers(0, 3, n), rng.integers(1, 255, n), strict=True)
        ],
        np.uint64,
    )
    zeros = np.zeros(n, np.uint64)
    return FlowSpec(
        version=np.full(n, 4, np.uint8),
        src_hi=zeros,
        src_lo=src,
        dst_hi=zeros,
        dst_lo=dst,
        sport=rng.integers(1024, 65535, n).astype(np.uint16),
        dport=rng.choice([443, 53, 22], n).astype(np.uint16),
        proto=rng.choice([6, 17], n).astype(np.uint8),
        bytes=rng.integers(40, 1_000_000, n).astype(np.uint64),
        packets=rng.integers(1, 800, n).astype(np.uint64),
        start_ms=np.full(n, now_ms - 1000, np.uint64),
        end_ms=np.full(n, now_ms, np.uint64),
        in_if=np.ones(n, np.uint32),
        out_if=np.full(n, 2, np.uint32),
    )


def test_two_collectors_one_api_and_a_30s_outage(tmp_path: Path) -> None:
    binary = server_binary()
    if binary is None:
        if os.geteuid() == 0:
            pytest.fail("clickhouse-server is missing: run scripts/bootstrap.sh (installs it)")
        pytest.skip("clickhouse-server is not installed and installing it needs root")
    server = ClickHouseServer.start(binary, tmp_path / "clickhouse")
    db = tmp_path / "geo.mmdb"
    write_geo_db(db, "maxmind")
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        nodes: dict[str, dict[str, Any]] = {}
        for name in ("collector-a", "collector-b"):
            cfg = tmp_path / f"{name}.toml"
            udp, http = free_port(), free_port()
            write_config(
                cfg, "collector", tmp_path / name, db, server.port,
                node=name, udp_port=udp, http_port=http,
            )  # fmt: skip
            logs.append(tmp_path / f"{name}.log")
            procs.append(start(cfg, logs[-1]))
            nodes[name] = {"udp": udp, "http": http, "proc": procs[-1]}
        for name, n in nodes.items():
            wait_for(
                lambda n=n: get_json(f"http://127.0.0.1:{n['http']}/api/health")["status"] == "ok",
                60,
                f"{name} to be up",
            )

        # Both collectors receive for SEND_S seconds; the server is down for 30 s meanwhile.
        rng = np.random.default_rng(7)
        sent = {name: {"bytes": 0, "packets": 0, "flows": 0} for name in nodes}
        encoders = {name: ExportEncoder(9, source_id=i + 1) for i, name in enumerate(nodes)}
        t0 = time.monotonic()
        stopped = resumed = False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for name, n in nodes.items():
                now_ms = int(time.time() * 1000)
                sock.sendto(encoders[name].template_datagram(now_ms), ("127.0.0.1", n["udp"]))
            time.sleep(0.2)
            while (elapsed := time.monotonic() - t0) < SEND_S:
                if not stopped and elapsed >= OUTAGE[0]:
                    server.stop()
                    stopped = True
                if stopped and not resumed and elapsed >= OUTAGE[1]:
                    server.resume()
                    resumed = True
                for name, n in nodes.items():
                    now_ms = int(time.time() * 1000)
                    spec = flows(rng, 48, now_ms)
                    for dg in encoders[name].data_datagrams(spec, now_ms):
                        sock.sendto(dg, ("127.0.0.1", n["udp"]))
                    sent[name]["bytes"] += int(spec.bytes.sum())
                    sent[name]["packets"] += int(spec.packets.sum())
                    sent[name]["flows"] += len(spec)
                time.sleep(0.25)
        assert stopped and resumed

        # The outage was seen and bridged by the spool of each collector.
        for name, n in nodes.items():
            health = get_json(f"http://127.0.0.1:{n['http']}/api/health")
            assert health["spool"]["spooled_batches"] > 0, (name, health)
            assert health["spool"]["dropped_batches"] == 0, (name, health)
        # Graceful stop: every bucket is flushed (straight to the store once the spool is empty).
        for name, n in nodes.items():
            wait_for(
                lambda n=n: (
                    get_json(f"http://127.0.0.1:{n['http']}/api/health")["spool"]["backlog_batches"]
                    == 0
                ),
                60,
                f"{name}'s spool to drain",
            )
            n["proc"].send_signal(signal.SIGTERM)
        for name, n in nodes.items():
            assert n["proc"].wait(timeout=60) == 0, (tmp_path / f"{name}.log").read_text()
            spool_dir = tmp_path / name / "spool"
            left = [p for p in spool_dir.iterdir() if p.is_file() and p.name != ".lock"]
            assert not left, left  # every spooled flush was replayed and removed

        # Each collector's rows carry its node id and sum to what it was sent.
        per_node = {
            node: (int(b), int(p), int(f))
            for node, b, p, f in server.execute(
                f"SELECT node, sum(bytes), sum(packets), sum(flows) FROM {DATABASE}.traffic_1m"
                " GROUP BY node"
            )
        }
        assert per_node == {
            name: (s["bytes"], s["packets"], s["flows"]) for name, s in sent.items()
        }

        # The API node answers from the shared store: the totals of both collectors.
        api_cfg = tmp_path / "api.toml"
        api_http = free_port()
        write_config(api_cfg, "api", tmp_path / "api", db, server.port, http_port=api_http)
        made = subprocess.run(
            cli("token", "create", "--name", "scaleout-test", "-c", str(api_cfg)),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        token = made.stdout.strip().splitlines()[-1]
        logs.append(tmp_path / "api.log")
        procs.append(start(api_cfg, logs[-1]))
        base = f"http://127.0.0.1:{api_http}"
        wait_for(lambda: get_json(f"{base}/api/health")["status"] == "ok", 60, "the API node")
        answer = get_json(f"{base}/api/metrics/geo/countries?since=1h", token)
        totals = answer["totals"]
        assert totals["total_bytes"] == sum(s["bytes"] for s in sent.values())
        assert totals["packets"] == sum(s["packets"] for s in sent.values())
        assert totals["flows"] == sum(s["flows"] for s in sent.values())
        assert {r["code"] for r in answer["rows"]} == EXPECTED_COUNTRIES
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        server.stop()
        for log in logs:
            if log.exists():
                text = log.read_text(errors="replace")
                assert "Traceback" not in text, f"{log.name}:\n{text[-3000:]}"
