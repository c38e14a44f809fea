"""End to end: the conntrack source in a NAT router namespace against a packet capture.

Clients 10.77.1.2 and 10.77.2.2 sit behind a router (WAN 198.51.100.1) that masquerades towards a
server (198.51.100.10 and 203.0.113.10). Bounded, known traffic (TCP transfers, UDP bursts, pings)
crosses the router while the source polls it; some connections start and end between two polls
(only their DESTROY event carries their counters). The bytes and packets attributed to each
client and direction must equal what tcpdump saw on the router's LAN veths.

Needs root, iproute2, conntrack, tcpdump, ethtool and iptables or nftables (Debian packages).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from trafficatlas.classify import Classifier, ClassifySettings, LocalKind
from trafficatlas.flowbatch import Direction
from trafficatlas.net import format_ip
from trafficatlas.sources.conntrack import ConntrackFlows, ConntrackSettings, ConntrackSource

from support.netns import NetnsLab, unavailable_reason
from support.pcapread import read_ip_packets

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(120)]

C1, C2 = "10.77.1.2", "10.77.2.2"
SERVER, SERVER2, WAN = "198.51.100.10", "203.0.113.10", "198.51.100.1"

SERVER_PY = r"""
import socket, sys, threading, time

def serve(conn):
    with conn:
        f = conn.makefile("rb")
        size, pace_ms = map(int, f.readline().split())
        chunk = b"x" * 65536
        while size:
            k = min(size, len(chunk))
            conn.sendall(chunk[:k])
            size -= k
            if pace_ms:
                time.sleep(pace_ms / 1000)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(10)
        while conn.recv(65536):  # until the client closes
            pass

def tcp(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()

def udp(port, echo):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, peer = s.recvfrom(65535)
        if echo:
            s.sendto(data, peer)

for target, args in ((tcp, (8080,)), (udp, (7777, True)), (udp, (9999, False))):
    threading.Thread(target=target, args=args, daemon=True).start()
time.sleep(0.2)
print("ready", flush=True)
time.sleep(90)  # bounded life: the test stops it long before
"""

CLIENT_PY = r"""
import socket, struct, sys, time

def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF

mode, host = sys.argv[1], sys.argv[2]
if mode == "tcp":
    port, sport, size, pace = map(int, sys.argv[3:7])
    s = socket.socket()
    s.bind(("0.0.0.0", sport))
    s.settimeout(20)
    s.connect((host, port))
    s.sendall(b"%d %d\n" % (size, pace))
    got = 0
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += len(data)
    s.close()
    sys.exit(0 if got == size else 1)
if mode == "udp":
    port, sport, count, size, echo = map(int, sys.argv[3:8])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.settimeout(2)
    for _ in range(count):
        s.sendto(b"u" * size, (host, port))
        time.sleep(0.001)
    replies = 0
    while echo and replies < count:
        s.recv(65535)
        replies += 1
    sys.exit(0)
if mode == "ping":
    count, ident = map(int, sys.argv[3:5])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(2)
    for seq in range(count):
        body = b"p" * 56
        head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        s.sendto(struct.pack("!BBHHH", 8, 0, checksum(head + body), ident, seq) + body, (host, 0))
        while True:  # the echo reply (the raw socket also sees other ICMP)
            packet = s.recv(2048)
            icmp = packet[(packet[0] & 15) * 4:]
            if icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                break
    sys.exit(0)
sys.exit(2)
"""


def wait_for(proc: subprocess.Popen[bytes], text: bytes, timeout: float = 10) -> None:
    """Read the process's stderr (or stdout) until ``text`` shows up."""
    stream = proc.stderr if proc.stderr is not None else proc.stdout
    assert stream is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            if text in seen:
                return
    raise AssertionError(f"{proc.args!r} never printed {text!r}: {seen!r}")


def build_router_lab(lab: NetnsLab) -> None:
    for short in ("c1", "c2", "r", "s"):
        lab.add(short)
    lab.veth("c1", "c1e", "r", "r-c1")
    lab.veth("c2", "c2e", "r", "r-c2")
    lab.veth("s", "se", "r", "r-wan")
    lab.addr("c1", "c1e", f"{C1}/24")
    lab.addr("c2", "c2e", f"{C2}/24")
    lab.addr("r", "r-c1", "10.77.1.1/24")
    lab.addr("r", "r-c2", "10.77.2.1/24")
    lab.addr("r", "r-wan", f"{WAN}/24")
    lab.addr("s", "se", f"{SERVER}/24")
    lab.addr("s", "se", f"{SERVER2}/32")
    lab.route("c1", "default", "10.77.1.1")
    lab.route("c2", "default", "10.77.2.1")
    lab.route("s", "default", WAN)
    lab.route("r", f"{SERVER2}/32", SERVER)
    lab.sysctl("r", "net.ipv4.ip_forward", "1")
    lab.masquerade("r", "r-wan")


def capture_truth(pcaps: list[Path]) -> Counter[tuple[str, str, str]]:
    """(client, direction, "bytes"|"packets") totals from the LAN-side captures."""
    truth: Counter[tuple[str, str, str]] = Counter()
    for path in pcaps:
        for p in read_ip_packets(path):
            if p.src in (C1, C2):
                key = (p.src, "OUTBOUND")
            elif p.dst in (C1, C2):
                key = (p.dst, "INBOUND")
            else:
                continue
            truth[(*key, "bytes")] += p.length
            truth[(*key, "packets")] += 1
    return truth


def attributed(results: list[ConntrackFlows]) -> tuple[Counter[tuple[str, str, str]], Classifier]:
    """(client, direction, "bytes"|"packets") totals from the classified conntrack flows."""
    out = ConntrackFlows.concat(results)
    classifier = Classifier(ClassifySettings(local_networks=[{"cidr": "10.77.0.0/16"}]))
    c = classifier.classify(out.flows, out.nat)
    totals: Counter[tuple[str, str, str]] = Counter()
    for i in range(len(c)):
        local = format_ip(4, 0, int(c.local_lo[i]))
        remote = format_ip(4, 0, int(c.remote_lo[i]))
        direction = Direction(int(c.flows.direction[i])).name
        assert local in (C1, C2), (local, remote, direction)  # never the router's WAN address
        assert remote in (SERVER, SERVER2), remote
        assert c.local_kind[i] == LocalKind.LAN
        totals[(local, direction, "bytes")] += int(c.flows.bytes[i])
        totals[(local, direction, "packets")] += int(c.flows.packets[i])
    return totals, classifier


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    missing = [t for t in ("conntrack", "tcpdump") if shutil.which(t) is None]
    if shutil.which("iptables") is None and shutil.which("nft") is None:
        missing.append("iptables")
    if missing:
        pytest.fail(f"install the Debian packages {' '.join(missing)} to run this test")
    with NetnsLab() as built:
        yield built


def test_conntrack_source_matches_capture(lab: NetnsLab, tmp_path: Path) -> None:
    build_router_lab(lab)
    py = sys.executable
    (tmp_path / "server.py").write_text(SERVER_PY)
    client_py = tmp_path / "client.py"
    client_py.write_text(CLIENT_PY)

    def client(ns: str, *args: object) -> None:
        lab.run(ns, [py, str(client_py), *map(str, args)], timeout=30)

    def delete(*match: str) -> None:
        lab.run("r", ["conntrack", "-D", *match])

    pcaps = [tmp_path / "r-c1.pcap", tmp_path / "r-c2.pcap"]
    dumps = []
    for dev, pcap in zip(("r-c1", "r-c2"), pcaps, strict=True):
        argv = ["tcpdump", "-i", dev, "-n", "-s", "96", "-U", "--immediate-mode", "-Z", "root"]
        argv += ["-w", str(pcap)]
        dump = lab.popen("r", argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(dump, b"listening on")
        dumps.append(dump)
    server = lab.popen("s", [py, str(tmp_path / "server.py")], stdout=subprocess.PIPE)
    wait_for(server, b"ready")

    source = ConntrackSource(
        ConntrackSettings(netns=lab.ns("r"), enable_acct=True, poll_interval_s=3600)
    )
    source.start()  # baseline poll; the test polls by hand below
    results: list[ConntrackFlows] = []
    try:
        assert source.acct == 1  # a new namespace starts with accounting off; the source set it

        # connections that start and end between two polls: only DESTROY events see them
        client("c1", "tcp", SERVER, 8080, 41001, 300_000, 0)
        client("c2", "tcp", SERVER2, 8080, 42001, 200_000, 0)
        client("c2", "udp", SERVER, 7777, 42002, 20, 300, 1)
        client("c1", "ping", SERVER, 3, 4101)
        time.sleep(0.3)  # the last ACKs pass before the entries go
        delete("-p", "tcp", "--orig-port-src", "41001")
        delete("-p", "tcp", "--orig-port-src", "42001")
        delete("-p", "udp", "--orig-port-src", "42002")
        delete("-p", "icmp", "-s", C1)
        time.sleep(0.3)
        results.append(source.poll())
        assert source.metrics.destroyed_unseen == 4

        # a paced download that several polls see, with bursts and pings meanwhile
        download = lab.popen(
            "c1", [py, str(client_py), "tcp", SERVER, "8080", "41002", "1500000", "80"]
        )
        client("c1", "udp", SERVER, 9999, 41003, 100, 1000, 0)
        client("c2", "udp", SERVER2, 9999, 42003, 50, 200, 0)
        client("c2", "ping", SERVER2, 3, 4201)
        client("c2", "udp", SERVER, 7777, 42004, 10, 500, 1)
        deadline = time.monotonic() + 30
        while download.poll() is None and time.monotonic() < deadline:
            results.append(source.poll())
            time.sleep(0.4)
        assert download.wait(timeout=5) == 0
        time.sleep(0.3)
        results.append(source.poll())
        polls_during = source.metrics.polls

        # a connection seen by a poll grows, then ends before the next poll
        client("c2", "udp", SERVER, 7777, 42004, 10, 500, 1)
        delete("-p", "udp", "--orig-port-src", "42004")
        time.sleep(0.3)
        results.append(source.poll())
        assert source.metrics.destroyed >= 1
    finally:
        source.stop()
        for dump in dumps:
            lab.stop(dump)

    truth = capture_truth(pcaps)
    got, classifier = attributed(results)
    assert polls_during >= 4
    assert classifier.wan_addresses() == [WAN]
    assert set(got) == set(truth)
    for key, expected in truth.items():
        assert got[key] == pytest.approx(expected, rel=0.01), (key, got[key], expected)
    # the transfers' payloads are all there
    assert truth[(C1, "INBOUND", "bytes")] > 1_800_000
    m = source.metrics
    assert m.parse.errors() == {"malformed": 0, "truncated": 0, "bad_address": 0}
    assert (m.vanished, m.event_overruns, m.poll_failures) == (0, 0, 0)
    assert m.events >= 5


def test_accounting_sysctl_is_detected_and_enabled(lab: NetnsLab) -> None:
    lab.add("x")
    lab.masquerade("x", "lo")  # a ruleset that uses conntrack in this namespace
    settings = ConntrackSettings(netns=lab.ns("x"), use_events=False)
    off = ConntrackSource(settings)
    assert off.check_acct() == 0
    on = ConntrackSource(settings.model_copy(update={"enable_acct": True}))
    on.start()
    try:
        assert on.acct == 1
        assert on.metrics.polls == 1
        assert on.metrics.entries == 0
    finally:
        on.stop()
