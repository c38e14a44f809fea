"""WireGuardSource: per-peer traffic and "where my peers connect from", from ``wg show all dump``.

Every poll runs ``wg show all dump`` (in a named network namespace if set), turns each peer's
transfer counters into deltas (:mod:`trafficatlas.sources.wireguard_delta`) and emits them as
flow rows: per peer and direction, the peer's endpoint is the remote address (it gets
geolocated) and the peer's tunnel address the local one, so the classify stage attributes the
row to the peer. The peers' allowed IPs are handed to the classifier, so traffic from tunnel
addresses seen by the other sources is attributed to the peer too.

Peers are identified by their public key and a stable small integer id from
:class:`~trafficatlas.sources.peers.PeerRegistry`; names are configuration attributes.

Userspace ``wireguard-go`` keeps its control sockets in /var/run/wireguard, which namespaces do
not separate: ``wg show all dump`` then lists the instances of every namespace. Use
``interfaces`` to pick the ones that belong to the namespace being watched.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import Field

from trafficatlas.classify.classifier import Classifier
from trafficatlas.classify.prefixes import Network
from trafficatlas.errors import ConfigError, TrafficAtlasError
from trafficatlas.flowbatch import FlowBatch
from trafficatlas.logging import get_logger
from trafficatlas.section import Section
from trafficatlas.sources.base import Emit, SourceBatch
from trafficatlas.sources.conntrack_io import check_netns, netns_prefix
from trafficatlas.sources.peers import PeerConfig, PeerRegistry
from trafficatlas.sources.wireguard_delta import PeerAccounting, PeerDelta
from trafficatlas.sources.wireguard_dump import Dump, DumpPeer, parse_dump

log = get_logger("wireguard")

UDP = 17
# Rows of a peer with no tunnel address in its endpoint's family: "this host" as the local side
# (site-scoped, so direction and geolocation still work; the row cannot name its peer).
_HOST = {4: (0, 0x7F00_0001), 6: (0, 1)}


class WireGuardSettings(Section):
    """Settings of the WireGuard source."""

    enabled: bool = False
    poll_interval_s: float = Field(default=10.0, gt=0)
    wg_command: str = "wg"
    command_timeout_s: float = Field(default=10.0, gt=0)
    # Network namespace to run `wg` in (a name under /run/netns); None = ours.
    netns: str | None = None
    # Interfaces to watch; empty = every interface `wg` lists.
    interfaces: list[str] = Field(default_factory=list)
    # Where peer ids are kept (public key -> id, JSON), so they survive restarts; the app sets
    # <data_dir>/wireguard-peers.json. None keeps them in memory only.
    registry_path: Path | None = None
    # Peer attributes: names and privacy, by public key.
    peers: list[PeerConfig] = Field(default_factory=list)
    # Polls a peer missing from the listing is remembered for (a listing race must not count its
    # lifetime counters again).
    grace_polls: int = Field(default=2, ge=0)
    # Attribute tunnel traffic to a peer whose allowed IPs include a default route (0.0.0.0/0,
    # ::/0): off, because such a peer is the way out, not the owner of every address.
    attribute_default_routes: bool = False


@dataclass(slots=True)
class WireGuardMetrics:
    """Monotonic counters and last-poll gauges of one WireGuardSource."""

    polls: int = 0
    poll_failures: int = 0
    incomplete_polls: int = 0
    poll_duration_s: float = 0.0
    poll_duration_total_s: float = 0.0
    interfaces: int = 0
    peers: int = 0
    parse_lines: int = 0
    parse_errors: int = 0
    baseline: int = 0
    new_peers: int = 0
    resets: int = 0
    forgotten: int = 0
    rows_emitted: int = 0
    unattributed_rows: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0

    HELP: ClassVar[dict[str, str]] = {
        "polls": "Polls of `wg show all dump` completed.",
        "poll_failures": "Polls that failed (command missing, failed or timed out).",
        "incomplete_polls": "Polls where `wg` reported an error but listed some interfaces.",
        "poll_duration_s": "Seconds the last poll took (command, parse and delta accounting).",
        "poll_duration_total_s": "Seconds spent polling, summed over all polls.",
        "interfaces": "WireGuard interfaces in the last listing (after the interface filter).",
        "peers": "Peers in the last listing (after the interface filter).",
        "parse_lines": "Lines of `wg` output read.",
        "parse_errors": "Lines of `wg` output that did not parse (skipped).",
        "baseline": "Peers seen by the first listing: their earlier transfer is not counted.",
        "new_peers": "Peers that appeared after the first listing (counted from zero).",
        "resets": "Peer counters that went down (interface or peer re-created).",
        "forgotten": "Peers dropped from the accounting after leaving the listing.",
        "rows_emitted": "Flow rows emitted (one per peer and direction with traffic).",
        "unattributed_rows": "Rows of peers without a tunnel address in their endpoint's family.",
        "rx_bytes": "Bytes received from peers (WireGuard transport, counted deltas).",
        "tx_bytes": "Bytes sent to peers (WireGuard transport, counted deltas).",
    }

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """What the source knows about one peer on one interface (for the API)."""

    public_key: str
    peer_id: int
    name: str
    private: bool
    interface: str
    endpoint: str | None  # "198.51.100.2:51820", "[2001:db8::2]:51820", None before a handshake
    endpoint_address: str | None
    allowed_ips: list[str]
    latest_handshake: float | None  # epoch seconds
    keepalive_s: int
    rx_bytes: int  # WireGuard's counters (since the peer or interface was created)
    tx_bytes: int
    counted_rx_bytes: int  # what this source counted since it started (survives restarts of wg)
    counted_tx_bytes: int


class WireGuardSource:
    """Polls WireGuard peers; emits per-peer transfer deltas and feeds peer prefixes."""

    name = "wireguard"

    def __init__(
        self,
        settings: WireGuardSettings,
        registry: PeerRegistry | None = None,
        classifier: Classifier | None = None,
        exporter: int = 0,
    ) -> None:
        self.settings = settings
        if registry is None:
            if settings.registry_path is None:
                log.warning("wireguard peer ids are kept in memory only (no registry_path)")
            registry = PeerRegistry(settings.registry_path)
        self.registry = registry
        self.registry.configure(settings.peers)
        self.classifier = classifier
        self.exporter = exporter
        self.stats = WireGuardMetrics()
        self.accounting = PeerAccounting(grace_polls=settings.grace_polls)
        self._lock = threading.Lock()
        self._listing: list[DumpPeer] = []
        self._prefixes: dict[str | Network, int] | None = None
        self._if_index: dict[str, int] = {}
        self._emit: Emit | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Check the setup, take the baseline poll, then poll every interval in a thread.

        Raises ConfigError when the namespace or the `wg` command is unusable.
        """
        s = self.settings
        if s.netns is not None:
            check_netns(s.netns)
        if shutil.which(s.wg_command) is None:
            raise ConfigError(
                f"the `{s.wg_command}` command is not installed (Debian package wireguard-tools)"
            )
        self.poll()  # the baseline; a failure here is a setup error the caller should see
        self._emit = emit
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wireguard-poll", daemon=True)
        self._thread.start()
        log.info("wireguard source started", netns=s.netns, peers=self.stats.peers)

    def stop(self) -> None:
        """Stop polling; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.command_timeout_s + 5)
            self._thread = None

    def metrics(self) -> Mapping[str, float]:
        """Current counters and gauges."""
        return self.stats.as_dict()

    def set_peer_config(self, peers: list[PeerConfig]) -> None:
        """New peer names and privacy flags (ids and totals are unaffected)."""
        self.registry.configure(peers)

    # -- polling -----------------------------------------------------------------------------

    def read_dump(self) -> tuple[Dump, bool]:
        """Run and parse `wg show all dump`; the flag is False when `wg` reported an error."""
        s = self.settings
        argv = [*netns_prefix(s.netns), s.wg_command, "show", "all", "dump"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=s.command_timeout_s)
        except FileNotFoundError:
            raise ConfigError(f"cannot run {s.wg_command!r}: command not found") from None
        except OSError as exc:
            raise ConfigError(f"cannot run {s.wg_command!r}: {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"`{' '.join(argv)}` did not finish in {s.command_timeout_s:g} s"
            ) from None
        err = done.stderr.decode(errors="replace").strip()
        if done.returncode != 0 and not done.stdout.strip():
            message = err.splitlines()[0] if err else f"exit status {done.returncode}"
            raise ConfigError(f"`{' '.join(argv)}` failed: {message}")
        if done.returncode != 0:
            log.warning("wg listed some interfaces with errors", error=err.splitlines()[0])
        dump = parse_dump(done.stdout.decode(errors="replace"))
        return dump, done.returncode == 0

    def poll(self) -> SourceBatch:
        """One poll cycle: list, account, update peer prefixes; returns the rows (maybe none)."""
        with self._lock:
            t0 = time.monotonic()
            dump, complete = self.read_dump()
            now = time.time()
            wanted = set(self.settings.interfaces)
            peers = [p for p in dump.peers if not wanted or p.interface in wanted]
            m = self.stats
            m.parse_lines += dump.lines
            m.parse_errors += dump.error_count
            if dump.error_count:
                log.warning("skipped unparsable `wg` output lines", errors=dump.errors)
            if not complete:
                m.incomplete_polls += 1
            ids = self.registry.ids_for(p.public_key for p in peers)
            deltas = self.accounting.cycle(peers, now, complete)
            counts = self.accounting.counts
            m.baseline, m.new_peers = counts.baseline, counts.new_peers
            m.resets, m.forgotten = counts.resets, counts.forgotten
            self._listing = peers
            self._update_prefixes(peers, ids)
            ports = {i.name: i.listen_port for i in dump.interfaces}
            batch = self._rows(deltas, ports, now)
            m.interfaces = len({i.name for i in dump.interfaces if not wanted or i.name in wanted})
            m.peers = len(peers)
            m.polls += 1
            took = time.monotonic() - t0
            m.poll_duration_s = took
            m.poll_duration_total_s += took
            return batch

    def _run(self) -> None:
        while not self._stop.wait(self.settings.poll_interval_s):
            try:
                batch = self.poll()
            except TrafficAtlasError as exc:
                self.stats.poll_failures += 1
                log.warning("wireguard poll failed", error=str(exc))
                continue
            except Exception:  # a bug: keep polling, but say so loudly
                self.stats.poll_failures += 1
                log.exception("wireguard poll crashed")
                continue
            if len(batch.flows) and self._emit is not None:
                self._emit(batch)

    # -- peers -------------------------------------------------------------------------------

    def peers(self) -> list[PeerInfo]:
        """The peers of the last listing, with their ids, names and counted totals."""
        with self._lock:
            listing = list(self._listing)
        out = []
        for p in listing:
            pid = self.registry.id_for(p.public_key)
            rx, tx = self.accounting.totals(p.public_key)
            out.append(
                PeerInfo(
                    public_key=p.public_key,
                    peer_id=pid,
                    name=self.registry.name_of_key(p.public_key),
                    private=self.registry.is_private(p.public_key),
                    interface=p.interface,
                    endpoint=p.endpoint.text if p.endpoint else None,
                    endpoint_address=p.endpoint.address if p.endpoint else None,
                    allowed_ips=[str(n) for n in p.allowed_ips],
                    latest_handshake=float(p.latest_handshake) if p.latest_handshake else None,
                    keepalive_s=p.keepalive_s,
                    rx_bytes=p.rx_bytes,
                    tx_bytes=p.tx_bytes,
                    counted_rx_bytes=rx,
                    counted_tx_bytes=tx,
                )
            )
        return out

    def _update_prefixes(self, peers: list[DumpPeer], ids: Mapping[str, int]) -> None:
        mapping: dict[str | Network, int] = {}
        for p in peers:
            for net in p.allowed_ips:
                if net.prefixlen == 0 and not self.settings.attribute_default_routes:
                    continue
                mapping[net] = ids[p.public_key]
        if mapping != self._prefixes:
            self._prefixes = mapping
            if self.classifier is not None:
                self.classifier.set_peer_prefixes(mapping)

    def peer_prefixes(self) -> dict[str, int]:
        """The allowed-IP prefix → peer id map handed to the classifier."""
        with self._lock:
            return {str(k): v for k, v in (self._prefixes or {}).items()}

    # -- rows --------------------------------------------------------------------------------

    def _rows(
        self,
        deltas: list[PeerDelta],
        listen_ports: Mapping[str, int],
        now: float,
    ) -> SourceBatch:
        names = ("ts_start", "ip_version", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport",
                 "dport", "bytes", "in_if")  # fmt: skip
        cols: dict[str, list[int | float]] = {k: [] for k in names}
        used: dict[str, int] = {}
        m = self.stats
        for d in deltas:
            p = d.peer
            ep = p.endpoint
            if ep is not None and not self.registry.is_private(p.public_key):
                version, remote, rport = ep.version, (ep.hi, ep.lo), ep.port
            else:  # no endpoint, or kept out of geography: an address nobody geolocates
                version = ep.version if ep is not None else _tunnel_version(p)
                remote, rport = (0, 0), 0
            local = _tunnel_address(p, version)
            if local is None:
                local = _HOST[version]
                m.unattributed_rows += bool(d.rx) + bool(d.tx)
            lport = listen_ports.get(p.interface, 0)
            iface = used[p.interface] = self._if_index.setdefault(
                p.interface, len(self._if_index) + 1
            )
            for nbytes, inbound in ((d.rx, True), (d.tx, False)):
                if not nbytes:
                    continue
                src, dst = (remote, local) if inbound else (local, remote)
                sport, dport = (rport, lport) if inbound else (lport, rport)
                row = (d.since, version, *src, *dst, sport, dport, nbytes, iface)
                for k, v in zip(names, row, strict=True):
                    cols[k].append(v)
            m.rx_bytes += d.rx
            m.tx_bytes += d.tx
        n = len(cols["bytes"])
        m.rows_emitted += n
        arrays = {k: np.asarray(v, dtype=FlowBatch.DTYPES[k]) for k, v in cols.items()}
        flows = FlowBatch.from_columns(
            n,
            ts=now,
            exporter=self.exporter,
            proto=UDP,
            out_if=arrays["in_if"],
            packets=0,  # wg counts bytes only
            flows=0,  # counter deltas, not flows
            **arrays,
        )
        interfaces = {(self.exporter, idx): name for name, idx in used.items()}
        return SourceBatch(source=self.name, flows=flows, interfaces=interfaces)


def _tunnel_version(p: DumpPeer) -> int:
    return p.allowed_ips[0].version if p.allowed_ips else 4


def _tunnel_address(p: DumpPeer, version: int) -> tuple[int, int] | None:
    """The peer's own address in the tunnel, in the given family (the first allowed prefix)."""
    for net in p.allowed_ips:
        if net.version == version and net.prefixlen > 0:
            value = int(net.network_address)
            return (value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF) if version == 6 else (0, value)
    return None
