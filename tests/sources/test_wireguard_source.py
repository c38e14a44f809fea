"""WireGuardSource and PeerRegistry with a real `wg`-like child process and real files.

`wg` itself is stood in for by a script (``wg_command``) that prints a dump file the test
writes; the privileged end-to-end test runs the real wireguard-go and wg.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from trafficatlas.classify import Classifier, ClassifySettings, LocalKind
from trafficatlas.enrich.special import Label
from trafficatlas.errors import ConfigError, DatabaseError
from trafficatlas.flowbatch import Direction, FlowBatch
from trafficatlas.net import format_ip, parse_ip
from trafficatlas.sources.base import SourceBatch
from trafficatlas.sources.peers import PeerConfig, PeerRegistry
from trafficatlas.sources.wireguard import WireGuardSettings, WireGuardSource


def key(i: int) -> str:
    return base64.b64encode(bytes([i]) * 32).decode()


K1, K2, K3 = key(1), key(2), key(3)
SERVER_PRIVATE = key(200)  # printed by wg in the interface line; must never come out again


@dataclass(frozen=True)
class Peer:
    key: str
    endpoint: str = "(none)"
    allowed: str = "(none)"
    rx: int = 0
    tx: int = 0
    iface: str = "wg0"
    handshake: int = 0

    def line(self) -> str:
        return (
            f"{self.iface}\t{self.key}\t(none)\t{self.endpoint}\t{self.allowed}\t{self.handshake}"
            f"\t{self.rx}\t{self.tx}\toff"
        )


P1 = Peer(K1, "198.51.100.2:40000", "10.99.0.2/32,fd99::2/128", 1000, 2000, handshake=1795309059)
P2 = Peer(K2, "[2001:db8:7::9]:51820", "10.99.0.3/32", 500, 600)


class FakeWg:
    """A `wg` stand-in: prints the dump file, or fails as told."""

    def __init__(self, tmp: Path) -> None:
        self.dump = tmp / "dump.txt"
        self.status = tmp / "status"
        self.command = tmp / "wg"
        self.command.write_text(
            "#!/bin/sh\n"
            f'cat "{self.dump}"\n'
            f'if [ -s "{self.status}" ]; then echo "Unable to access interface wg9" >&2;'
            f' exit "$(cat "{self.status}")"; fi\n'
        )
        self.command.chmod(self.command.stat().st_mode | stat.S_IXUSR)
        self.write()

    def write(self, *peers: Peer, status: int = 0, extra: str = "") -> None:
        ifaces = sorted({p.iface for p in peers} | {"wg0"})
        lines = [f"{i}\t{SERVER_PRIVATE}\t{key(100)}\t51820\toff" for i in ifaces]
        lines += [p.line() for p in peers]
        tmp = self.dump.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n" + extra)
        tmp.replace(self.dump)
        self.status.write_text(str(status) if status else "")


@pytest.fixture
def wg(tmp_path: Path) -> FakeWg:
    return FakeWg(tmp_path)


def make(wg: FakeWg, tmp_path: Path, **kw: object) -> WireGuardSource:
    args: dict[str, object] = {
        "wg_command": str(wg.command),
        "registry_path": tmp_path / "peers.json",
    }
    settings = WireGuardSettings.model_validate(args | kw)
    return WireGuardSource(settings)


def rows(batch: SourceBatch) -> list[tuple[str, str, int, int, int]]:
    f = batch.flows
    return [
        (
            format_ip(int(f.ip_version[i]), int(f.src_hi[i]), int(f.src_lo[i])),
            format_ip(int(f.ip_version[i]), int(f.dst_hi[i]), int(f.dst_lo[i])),
            int(f.sport[i]),
            int(f.dport[i]),
            int(f.bytes[i]),
        )
        for i in range(len(f))
    ]


def test_baseline_then_deltas_as_rows(wg: FakeWg, tmp_path: Path) -> None:
    wg.write(P1, P2)
    src = make(wg, tmp_path)
    first = src.poll()
    assert len(first.flows) == 0  # a baseline: what moved before start is not counted
    assert src.stats.baseline == 2
    wg.write(replace(P1, rx=1300, tx=2000), replace(P2, rx=550, tx=700))
    batch = src.poll()
    assert batch.source == "wireguard"
    # received from the peer: endpoint → tunnel address; sent: the other way; wg counts bytes only
    assert rows(batch) == [
        ("198.51.100.2", "10.99.0.2", 40000, 51820, 300),
        ("2001:db8:7::9", "::1", 51820, 51820, 50),
        ("::1", "2001:db8:7::9", 51820, 51820, 100),
    ]
    f = batch.flows
    assert list(f.proto) == [17, 17, 17]
    assert f.totals() == {"flows": 0, "packets": 0, "bytes": 450}
    assert set(f.in_if.tolist()) == {1}
    assert dict(batch.interfaces) == {(0, 1): "wg0"}
    m = src.metrics()
    assert (m["polls"], m["peers"], m["interfaces"], m["rows_emitted"]) == (2, 2, 1, 3)
    assert (m["rx_bytes"], m["tx_bytes"], m["parse_errors"]) == (350, 100, 0)
    # K2's endpoint is IPv6 but its tunnel is IPv4 only: its rows cannot name the peer
    assert m["unattributed_rows"] == 2
    assert m["poll_duration_s"] > 0


def test_classified_rows_belong_to_the_peer_and_geolocate_the_endpoint(
    wg: FakeWg, tmp_path: Path
) -> None:
    classifier = Classifier(
        ClassifySettings(local_networks=[{"cidr": "10.99.0.0/24", "label": "vpn"}])
    )
    public = replace(P1, endpoint="8.8.4.4:40000")  # a public address: data only
    wg.write(public, P2)
    src = WireGuardSource(
        WireGuardSettings(wg_command=str(wg.command), registry_path=tmp_path / "p.json"),
        classifier=classifier,
    )
    src.poll()
    wg.write(replace(public, rx=1100, tx=2200), P2)
    c = classifier.classify(src.poll().flows)
    pid = src.registry.get(K1)
    assert pid is not None
    assert list(c.owner_id) == [pid, pid]
    assert list(c.flows.direction) == [Direction.INBOUND, Direction.OUTBOUND]
    assert list(c.local_kind) == [LocalKind.VPN, LocalKind.VPN]
    assert [format_ip(4, 0, int(v)) for v in c.remote_lo] == ["8.8.4.4", "8.8.4.4"]
    assert list(c.geolocate()) == [True, True]  # "where my peers connect from"
    # the allowed IPs also attribute other sources' traffic from the tunnel addresses
    lo = parse_ip("10.99.0.3")[2]
    other = FlowBatch.from_columns(1, ip_version=4, src_lo=lo, dst_lo=parse_ip("8.8.8.8")[2])
    assert classifier.classify(other).owner_id[0] == src.registry.get(K2)
    assert src.peer_prefixes() == {"10.99.0.2/32": pid, "fd99::2/128": pid, "10.99.0.3/32": pid + 1}


def test_default_routes_are_not_attributed_unless_asked(wg: FakeWg, tmp_path: Path) -> None:
    gateway = Peer(K3, "198.51.100.9:51820", "0.0.0.0/0,::/0,10.99.0.9/32")
    wg.write(gateway)
    src = make(wg, tmp_path)
    src.poll()
    assert src.peer_prefixes() == {"10.99.0.9/32": 1}
    src = make(wg, tmp_path, attribute_default_routes=True)
    src.poll()
    assert set(src.peer_prefixes()) == {"0.0.0.0/0", "::/0", "10.99.0.9/32"}


def test_counter_reset_new_and_removed_peers(wg: FakeWg, tmp_path: Path) -> None:
    wg.write(P1)
    src = make(wg, tmp_path, grace_polls=1)
    src.poll()
    # the interface was re-created: counters start again below the last ones
    wg.write(replace(P1, rx=40, tx=10), P2)  # and P2 was added since the last poll
    got = rows(src.poll())
    assert [r[-1] for r in got] == [40, 10, 500, 600]
    assert (src.stats.resets, src.stats.new_peers) == (1, 1)
    wg.write(replace(P1, rx=40, tx=10))  # P2 removed: kept for one poll, then forgotten
    assert len(src.poll().flows) == 0
    assert src.stats.forgotten == 0
    wg.write(replace(P1, rx=40, tx=10))
    src.poll()
    assert src.stats.forgotten == 1
    assert len(src.accounting) == 1
    wg.write(replace(P1, rx=40, tx=10), replace(P2, rx=5, tx=6))  # re-added: from zero
    assert [r[-1] for r in rows(src.poll())] == [5, 6]
    # the counted totals of a peer survive all of that
    info = {p.public_key: p for p in src.peers()}
    assert (info[K1].counted_rx_bytes, info[K1].counted_tx_bytes) == (40, 10)
    assert (info[K2].counted_rx_bytes, info[K2].counted_tx_bytes) == (505, 606)


def test_listing_with_errors_ages_nobody_and_a_failed_command_is_typed(
    wg: FakeWg, tmp_path: Path
) -> None:
    wg.write(P1, P2)
    src = make(wg, tmp_path, grace_polls=0)
    src.poll()
    wg.write(replace(P1, rx=1010), status=1)  # wg lists what it can and exits 1
    assert [r[-1] for r in rows(src.poll())] == [10]
    assert (src.stats.incomplete_polls, src.stats.forgotten) == (1, 0)
    wg.write(replace(P1, rx=1010), replace(P2, rx=501))  # P2 was still known: a delta of 1
    assert [r[-1] for r in rows(src.poll())] == [1]
    wg.dump.write_text("")
    wg.status.write_text("1")
    with pytest.raises(ConfigError, match="Unable to access interface wg9"):
        src.poll()
    missing = make(wg, tmp_path, wg_command=str(tmp_path / "no-such-wg"))
    with pytest.raises(ConfigError, match="not installed"):
        missing.start(lambda b: None)
    with pytest.raises(ConfigError, match="not found"):
        missing.poll()
    with pytest.raises(ConfigError, match="namespace"):
        make(wg, tmp_path, netns="ta-no-such-ns").start(lambda b: None)


def test_interfaces_filter(wg: FakeWg, tmp_path: Path) -> None:
    other = replace(P2, iface="wgother")
    wg.write(P1, other)
    src = make(wg, tmp_path, interfaces=["wg0"])
    src.poll()
    wg.write(replace(P1, rx=1001), replace(other, rx=9999))
    assert [r[-1] for r in rows(src.poll())] == [1]
    assert [p.interface for p in src.peers()] == ["wg0"]
    assert (src.stats.peers, src.stats.interfaces) == (1, 1)
    assert src.registry.get(K2) is None  # a peer of another interface gets no id


def test_bad_lines_are_counted_and_secrets_stay_out(wg: FakeWg, tmp_path: Path) -> None:
    wg.write(P1, extra="wg0\tbroken line\n" + replace(P2, rx=-1).line().replace("-1", "x") + "\n")
    src = make(wg, tmp_path)
    src.poll()
    assert src.stats.parse_errors == 2
    assert [p.public_key for p in src.peers()] == [K1]
    assert SERVER_PRIVATE not in repr(src.peers())
    assert SERVER_PRIVATE not in (tmp_path / "peers.json").read_text()


def test_rename_keeps_id_and_totals_and_ids_survive_restart(wg: FakeWg, tmp_path: Path) -> None:
    conf = [PeerConfig(public_key=K1, name="alice"), PeerConfig(public_key=K2, name="bob")]
    wg.write(P2, P1)
    src = make(wg, tmp_path, peers=conf)
    src.poll()
    ids = {p.public_key: p.peer_id for p in src.peers()}
    assert ids == {K2: 1, K1: 2}  # in order of first sight
    assert {p.name for p in src.peers()} == {"alice", "bob"}
    wg.write(P2, replace(P1, rx=1100))
    src.poll()
    src.set_peer_config([PeerConfig(public_key=K1, name="alice-laptop")])
    wg.write(P2, replace(P1, rx=1150))
    src.poll()
    info = {p.public_key: p for p in src.peers()}
    assert (info[K1].name, info[K1].peer_id, info[K1].counted_rx_bytes) == ("alice-laptop", 2, 150)
    assert info[K2].name == ""
    assert src.registry.name(2) == "alice-laptop"
    assert src.registry.name(1) == K2[:8]
    # a restart with another name: the same id from the file
    again = make(wg, tmp_path, peers=[PeerConfig(public_key=K1, name="laptop")])
    again.poll()
    assert {p.public_key: (p.peer_id, p.name) for p in again.peers()} == {
        K2: (1, ""),
        K1: (2, "laptop"),
    }
    data = json.loads((tmp_path / "peers.json").read_text())
    assert data == {"version": 1, "next_id": 3, "peers": {K1: 2, K2: 1}}


def test_private_peer_endpoint_is_never_geolocated(wg: FakeWg, tmp_path: Path) -> None:
    classifier = Classifier(ClassifySettings())
    public = replace(P1, endpoint="8.8.4.4:40000")
    wg.write(public)
    src = WireGuardSource(
        WireGuardSettings(
            wg_command=str(wg.command),
            peers=[PeerConfig(public_key=K1, name="quiet", private=True)],
        ),
        classifier=classifier,
    )
    src.poll()
    wg.write(replace(public, rx=1100, tx=2100))
    batch = src.poll()
    c = classifier.classify(batch.flows)
    assert batch.flows.totals()["bytes"] == 200  # totals still count
    assert list(c.owner_id) == [1, 1]
    assert not c.geolocate().any()
    assert list(c.remote_label) == [Label.RESERVED, Label.RESERVED]
    assert src.peers()[0].private
    assert src.registry.private_ids() == {1}


def test_start_polls_in_a_thread_and_emits(wg: FakeWg, tmp_path: Path) -> None:
    wg.write(P1)
    src = make(wg, tmp_path, poll_interval_s=0.05)
    got: list[SourceBatch] = []
    ready = threading.Event()

    def emit(batch: SourceBatch) -> None:
        got.append(batch)
        ready.set()

    src.start(emit)
    try:
        wg.write(replace(P1, tx=2500))
        assert ready.wait(5)
    finally:
        src.stop()
    src.stop()
    assert sum(int(b.flows.bytes.sum()) for b in got) == 500
    assert src.stats.polls >= 2


def test_registry_file_errors_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    reg = PeerRegistry(path)
    assert reg.ids_for([K1, K2, K1]) == {K1: 1, K2: 2}
    assert PeerRegistry(path).id_for(K3) == 3
    assert PeerRegistry(path).key_for(3) == K3
    path.write_text("{not json")
    with pytest.raises(DatabaseError, match="not valid JSON"):
        PeerRegistry(path)
    for bad in (
        {"version": 2, "next_id": 1, "peers": {}},
        {"version": 1, "peers": {}},
        {"version": 1, "next_id": 3, "peers": {"nope": 1}},
        {"version": 1, "next_id": 3, "peers": {K1: 1, K2: 1}},
        {"version": 1, "next_id": 3, "peers": {K1: 0}},
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(DatabaseError, match="peer registry"):
            PeerRegistry(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(DatabaseError, match="UTF-8"):
        PeerRegistry(path)
    # ids are never reused, even when next_id is behind
    path.write_text(json.dumps({"version": 1, "next_id": 1, "peers": {K1: 5}}))
    assert PeerRegistry(path).id_for(K2) == 6
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(DatabaseError, match="cannot write"):
            PeerRegistry(ro / "peers.json").id_for(K1)
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    with pytest.raises(DatabaseError, match="cannot read"):
        PeerRegistry(blocked / "peers.json")
    (tmp_path / "sub").mkdir()
    reg = PeerRegistry(tmp_path / "sub" / "peers.json")
    (tmp_path / "sub").rmdir()
    (tmp_path / "sub").write_text("")  # its folder became a file
    with pytest.raises(DatabaseError, match="cannot write"):
        reg.id_for(K1)
    assert reg.get(K1) is None  # an id that was not saved was not handed out
    with pytest.raises(ValidationError):
        PeerConfig(public_key="abc")
    mem = PeerRegistry()
    assert (mem.id_for(K1), mem.id_for(K2), len(mem)) == (1, 2, 2)


def test_sources_can_share_one_registry(wg: FakeWg, tmp_path: Path) -> None:
    shared = PeerRegistry(tmp_path / "shared.json")  # empty, so falsy: must still be the one used
    wg.write(P1)
    a = WireGuardSource(WireGuardSettings(wg_command=str(wg.command)), registry=shared)
    b = WireGuardSource(
        WireGuardSettings(
            wg_command=str(wg.command), peers=[PeerConfig(public_key=K1, name="seen-by-b")]
        ),
        registry=shared,
    )
    assert a.registry is shared and b.registry is shared
    a.poll()
    b.poll()
    assert a.peers()[0].peer_id == b.peers()[0].peer_id == 1
    assert len(shared) == 1
