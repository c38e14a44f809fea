"""End to end: WireGuardSource against Debian's userspace wireguard-go in two namespaces.

A server namespace and a client namespace share an underlay veth (198.51.100.1 / .2); each runs
its own wireguard-go with interface names unique to this run (wireguard-go's control sockets in
/var/run/wireguard are shared across namespaces, so `wg show all dump` in either namespace lists
both instances: the sources filter by interface name). Bounded traffic crosses the tunnel
(10.99.0.1 / .2): a TCP transfer of known size, then a UDP burst. The source on the server must
attribute the transport bytes to the client's public key, within WireGuard's per-packet overhead
of the tunnel interface's own counters, report the client's endpoint, and keep the peer's id and
totals across a rename.

Needs root, iproute2, wireguard-tools and wireguard-go (Debian packages).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from trafficatlas.classify import Classifier, ClassifySettings
from trafficatlas.flowbatch import Direction
from trafficatlas.net import format_ip
from trafficatlas.sources.base import SourceBatch
from trafficatlas.sources.peers import PeerConfig
from trafficatlas.sources.wireguard import PeerInfo, WireGuardSettings, WireGuardSource

from support.netns import NetnsLab, unavailable_reason

pytestmark = [pytest.mark.privileged, pytest.mark.timeout(90)]

S_UNDER, C_UNDER = "198.51.100.1", "198.51.100.2"
S_TUN, C_TUN = "10.99.0.1", "10.99.0.2"
S_PORT, C_PORT = 51820, 51821
# transport message = 16-byte header + payload padded to 16 + 16-byte tag
MIN_OVERHEAD, MAX_OVERHEAD = 32, 47
HANDSHAKE_SLACK = 4 * (148 + 92) + 8 * 32  # re-handshakes and keepalives, generously

SERVER_PY = r"""
import socket, sys
mode, host, port, size, reply = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if mode == "tcp":
    srv = socket.socket()
    srv.bind((host, port))
    srv.listen(1)
    print("ready", flush=True)
    srv.settimeout(20)
    conn, _ = srv.accept()
    conn.settimeout(20)
    got = 0
    while got < size:
        data = conn.recv(65536)
        if not data:
            break
        got += len(data)
    conn.sendall(b"r" * reply)
    conn.close()
    sys.exit(0 if got == size else 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((host, port))
s.settimeout(5)
print("ready", flush=True)
got = 0
try:
    while got < size:
        got += len(s.recv(65535))
except socket.timeout:
    pass
sys.exit(0 if got == size else 1)
"""

CLIENT_PY = r"""
import socket, sys, time
mode, host, port, size, reply = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
if mode == "tcp":
    s = socket.create_connection((host, port), timeout=20)
    s.sendall(b"c" * size)
    got = 0
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += len(data)
    s.close()
    sys.exit(0 if got == reply else 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(size // 1000):
    s.sendto(b"u" * 1000, (host, port))
    time.sleep(0.0005)
"""


@pytest.fixture
def lab() -> Iterator[NetnsLab]:
    reason = unavailable_reason()
    if reason is None and not (shutil.which("wg") and shutil.which("wireguard-go")):
        reason = "needs `wg` and `wireguard-go` (Debian packages wireguard-tools, wireguard-go)"
    if reason is None and not Path("/dev/net/tun").exists():
        reason = "wireguard-go needs /dev/net/tun"
    if reason:
        pytest.skip(reason)
    with NetnsLab() as built:
        yield built


def genkey(tmp: Path, name: str) -> tuple[Path, str]:
    """A private key file (mode 600) and its public key."""
    private = subprocess.run(["wg", "genkey"], capture_output=True, check=True).stdout
    path = tmp / f"{name}.key"
    path.touch(mode=0o600)
    path.write_bytes(private)
    public = subprocess.run(["wg", "pubkey"], input=private, capture_output=True, check=True)
    return path, public.stdout.decode().strip()


def start_wireguard_go(lab: NetnsLab, ns: str, ifname: str, log: Path) -> None:
    with log.open("wb") as out:
        proc = lab.popen(ns, ["wireguard-go", "-f", ifname], stdout=out, stderr=out)
    sock = Path("/var/run/wireguard") / f"{ifname}.sock"
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"wireguard-go {ifname} did not start: {log.read_text()}")
        time.sleep(0.02)


def link_counters(lab: NetnsLab, ns: str, dev: str) -> dict[str, int]:
    out = lab.run(ns, ["ip", "-j", "-s", "link", "show", "dev", dev]).stdout
    stats = json.loads(out)[0]["stats64"]
    return {
        "rx_bytes": stats["rx"]["bytes"],
        "rx_packets": stats["rx"]["packets"],
        "tx_bytes": stats["tx"]["bytes"],
        "tx_packets": stats["tx"]["packets"],
    }


def wait_ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == b"ready", line


def by_key(infos: list[PeerInfo]) -> dict[str, PeerInfo]:
    return {p.public_key: p for p in infos}


def test_peer_traffic_is_attributed_by_public_key(lab: NetnsLab, tmp_path: Path) -> None:
    s_if, c_if = f"{lab.prefix}s", f"{lab.prefix}c"
    lab.add("s")
    lab.add("c")
    lab.veth("s", "su", "c", "cu")
    lab.addr("s", "su", f"{S_UNDER}/24")
    lab.addr("c", "cu", f"{C_UNDER}/24")
    start_wireguard_go(lab, "s", s_if, tmp_path / "wg-s.log")
    start_wireguard_go(lab, "c", c_if, tmp_path / "wg-c.log")
    s_key, s_pub = genkey(tmp_path, "s")
    c_key, c_pub = genkey(tmp_path, "c")
    _, idle_pub = genkey(tmp_path, "idle")  # a configured peer that never connects
    lab.run("s", ["wg", "set", s_if, "private-key", str(s_key), "listen-port", str(S_PORT),
                  "peer", c_pub, "allowed-ips", f"{C_TUN}/32",
                  "peer", idle_pub, "allowed-ips", "10.99.0.3/32"])  # fmt: skip
    lab.run("c", ["wg", "set", c_if, "private-key", str(c_key), "listen-port", str(C_PORT),
                  "peer", s_pub, "allowed-ips", f"{S_TUN}/32",
                  "endpoint", f"{S_UNDER}:{S_PORT}"])  # fmt: skip
    for ns, dev, addr in (("s", s_if, S_TUN), ("c", c_if, C_TUN)):
        lab.addr(ns, dev, f"{addr}/24")
        lab.run(ns, ["ip", "link", "set", dev, "up"])

    py = sys.executable
    (tmp_path / "server.py").write_text(SERVER_PY)
    (tmp_path / "client.py").write_text(CLIENT_PY)
    # one datagram into the tunnel: the handshake happens before the sources start
    lab.run("c", [py, str(tmp_path / "client.py"), "udp", S_TUN, "9009", "1000", "0"])
    deadline = time.monotonic() + 10
    while b"\t0\t" in lab.run("c", ["wg", "show", c_if, "latest-handshakes"]).stdout:
        assert time.monotonic() < deadline, "no WireGuard handshake"
        time.sleep(0.05)

    registry = tmp_path / "peers.json"
    classifier = Classifier(
        ClassifySettings(local_networks=[{"cidr": "10.99.0.0/24", "label": "vpn"}])
    )
    server = WireGuardSource(
        WireGuardSettings(
            netns=lab.ns("s"),
            interfaces=[s_if],
            registry_path=registry,
            peers=[PeerConfig(public_key=c_pub, name="laptop")],
            poll_interval_s=3600,  # polled by hand below
        ),
        classifier=classifier,
    )
    # the client's view of the same tunnel; `wg` in its namespace lists the server's interface too
    client = WireGuardSource(WireGuardSettings(netns=lab.ns("c"), interfaces=[c_if]))
    emitted: list[SourceBatch] = []
    server.start(emitted.append)
    client.start(emitted.append)
    batches: list[SourceBatch] = []
    try:
        assert server.stats.baseline == 2
        assert [p.interface for p in client.peers()] == [c_if]
        before = link_counters(lab, "s", s_if)

        # a TCP transfer through the tunnel: 1 MB up, 300 kB down
        args = ["tcp", S_TUN, "9000", "1000000", "300000"]
        listener = lab.popen("s", [py, str(tmp_path / "server.py"), *args], stdout=subprocess.PIPE)
        wait_ready(listener)
        lab.run("c", [py, str(tmp_path / "client.py"), *args], timeout=30)
        assert listener.wait(timeout=20) == 0
        time.sleep(0.3)  # the last ACKs
        batches.append(server.poll())
        mid = link_counters(lab, "s", s_if)
        client.poll()
        s_view, c_view = by_key(server.peers())[c_pub], by_key(client.peers())[s_pub]

        # a rename between two polls, then a UDP burst
        server.set_peer_config([PeerConfig(public_key=c_pub, name="laptop-2")])
        args = ["udp", S_TUN, "9001", "200000", "0"]
        listener = lab.popen("s", [py, str(tmp_path / "server.py"), *args], stdout=subprocess.PIPE)
        wait_ready(listener)
        lab.run("c", [py, str(tmp_path / "client.py"), *args], timeout=30)
        assert listener.wait(timeout=20) == 0
        time.sleep(0.3)
        batches.append(server.poll())
        after = link_counters(lab, "s", s_if)
        peers = by_key(server.peers())
    finally:
        server.stop()
        client.stop()

    # the client's bytes, by its public key, within WireGuard's overhead of the interface counters
    tcp_rows, udp_rows = batches
    moved = []
    for batch, lo, hi in ((tcp_rows, before, mid), (udp_rows, mid, after)):
        c = classifier.classify(batch.flows)
        inbound = c.flows.direction == Direction.INBOUND
        got_rx = int(c.flows.bytes[inbound].sum())
        got_tx = int(c.flows.bytes[~inbound].sum())
        inner_rx, packets_rx = hi["rx_bytes"] - lo["rx_bytes"], hi["rx_packets"] - lo["rx_packets"]
        inner_tx, packets_tx = hi["tx_bytes"] - lo["tx_bytes"], hi["tx_packets"] - lo["tx_packets"]
        assert inner_rx + MIN_OVERHEAD * packets_rx <= got_rx
        assert got_rx <= inner_rx + MAX_OVERHEAD * packets_rx + HANDSHAKE_SLACK
        assert inner_tx + MIN_OVERHEAD * packets_tx <= got_tx
        assert got_tx <= inner_tx + MAX_OVERHEAD * packets_tx + HANDSHAKE_SLACK
        # every row is the client's: its id, its endpoint as the remote address
        assert set(c.owner_id.tolist()) == {server.registry.get(c_pub)}
        assert {format_ip(4, 0, int(v)) for v in c.remote_lo} == {C_UNDER}
        assert {format_ip(4, 0, int(v)) for v in c.local_lo} == {C_TUN}
        moved.append((got_rx, got_tx))
    # at least the payloads (the upper bounds are the interface counters' above)
    (tcp_rx, tcp_tx), (udp_rx, _) = moved
    assert (tcp_rx > 1_000_000, tcp_tx > 300_000, udp_rx > 200_000) == (True, True, True)

    # the client's source counted the same transport from the other side (what arrived was sent;
    # the underlay may drop some under load, and TCP resends it)
    assert 1_000_000 < s_view.counted_rx_bytes <= c_view.counted_tx_bytes
    assert 300_000 < c_view.counted_rx_bytes <= s_view.counted_tx_bytes

    # the endpoint, the id and the totals: one peer across the rename
    me = peers[c_pub]
    assert (me.endpoint, me.endpoint_address) == (f"{C_UNDER}:{C_PORT}", C_UNDER)
    assert me.name == "laptop-2"
    assert me.allowed_ips == [f"{C_TUN}/32"]
    assert me.latest_handshake is not None and abs(me.latest_handshake - time.time()) < 60
    total = sum(int(b.flows.bytes.sum()) for b in batches)
    assert me.counted_rx_bytes + me.counted_tx_bytes == total
    assert peers[idle_pub].counted_rx_bytes == peers[idle_pub].counted_tx_bytes == 0
    assert peers[idle_pub].endpoint is None
    assert emitted == []  # nothing emitted by the (idle) polling threads
    restarted = WireGuardSource(
        WireGuardSettings(netns=lab.ns("s"), interfaces=[s_if], registry_path=registry)
    )
    restarted.poll()
    assert by_key(restarted.peers())[c_pub].peer_id == me.peer_id
