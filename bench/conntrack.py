"""Benchmark: one ConntrackSource poll against the raw read of the table and `conntrack -L`.

Usage (root): uv run python bench/conntrack.py [--entries 220000] [--repeat 7]

Builds a router namespace whose ruleset uses conntrack (masquerade out of a veth, 192.0.2.1/24
and 2001:db8:1::1/64) and a sink namespace behind the veth that drops everything, raises
nf_conntrack_max (a global sysctl, put back afterwards) and fills the table with a bounded
generator: raw packets from many private source addresses and ports, sent from the router
namespace to documentation-range hosts routed to the sink (80% UDP over IPv4, 10% TCP SYNs over
IPv4, 10% UDP over IPv6). Every packet makes one entry; long UDP/TCP
timeouts keep them for the run. Then, in the same run, it times (``--repeat`` rounds, the three
measurements interleaved; the figure is the fastest round, the usual estimate of a cost on a
machine shared with other work, and the medians are printed too):

- poll_s: one ConntrackSource poll (read + parse + delta accounting) of the full table, after
  the baseline poll;
- raw_read_s: reading /proc/net/nf_conntrack to the end (1 MiB reads, nothing parsed);
- conntrack_cli_s: ``conntrack -L -o extended`` into /dev/null.

The namespaces are deleted at the end. Prints the figures, then a final JSON line
{"entries": N, "poll_s": x, "raw_read_s": x, "conntrack_cli_s": x}.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from trafficatlas.sources.conntrack import ConntrackSettings, ConntrackSource
from trafficatlas.sources.conntrack_io import run_in_netns, thread_path
from trafficatlas.sources.conntrack_parse import _parse_regex, parse_conntrack

CT_MAX = Path("/proc/sys/net/netfilter/nf_conntrack_max")
TABLE = Path("/proc/net/nf_conntrack")
NS_SYSCTLS = {
    "net.netfilter.nf_conntrack_acct": "1",
    "net.netfilter.nf_conntrack_udp_timeout": "900",
    "net.netfilter.nf_conntrack_udp_timeout_stream": "900",
    "net.netfilter.nf_conntrack_tcp_timeout_syn_sent": "900",
    "net.ipv6.conf.all.disable_ipv6": "0",
}
RULESET = """
table ip tabench {
  chain post { type nat hook postrouting priority 100; policy accept;
    oifname "v0" masquerade
  }
}
table ip6 tabench6 {
  chain out { type filter hook output priority 0; policy accept;
    ct state new counter
  }
}
"""


def sh(*argv: str, input: bytes | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, input=input, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.decode(errors='replace').strip()}")


def build_namespaces(ns: str, sink: str) -> None:
    """The router namespace (conntrack, NAT) and a sink that silently drops what it gets."""
    for name in (ns, sink):
        sh("ip", "netns", "add", name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "netns", "exec", sink, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    sh("ip", "link", "add", "v0", "netns", ns, "type", "veth", "peer", "name", "s0", "netns", sink)
    sh("ip", "-n", sink, "link", "set", "s0", "up")  # no address, no forwarding: drops it all
    sink_mac = json.loads(
        subprocess.run(
            ["ip", "-n", sink, "-j", "link", "show", "s0"], capture_output=True, check=True
        ).stdout
    )[0]["address"]
    for key, value in NS_SYSCTLS.items():
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}")
    sh("ip", "-n", ns, "link", "set", "v0", "up")
    sh("ip", "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "v0")
    sh("ip", "-n", ns, "addr", "add", "2001:db8:1::1/64", "dev", "v0", "nodad")
    for gw, net in (("192.0.2.254", "198.51.100.0/24"), ("2001:db8:1::fe", "2001:db8:99::/64")):
        sh("ip", "-n", ns, "neigh", "add", gw, "lladdr", sink_mac, "dev", "v0", "nud", "permanent")
        sh("ip", "-n", ns, "route", "add", net, "via", gw)
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=RULESET.encode())


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def packets(n: int) -> tuple[list[tuple[bytes, str]], list[tuple[bytes, str]]]:
    """``n`` distinct connections as raw IPv4 and IPv6 packets (with their destinations)."""
    v4: list[tuple[bytes, str]] = []
    v6: list[tuple[bytes, str]] = []
    payload = b"b" * 32
    for i in range(n):
        sport = 1024 + (i * 7919) % 60000
        kind = i % 10
        dst_host = 10 + i % 240
        if kind == 9:  # UDP over IPv6
            src = socket.inet_pton(
                socket.AF_INET6, f"fd00:77::{(i >> 16) & 0xFFFF:x}:{i & 0xFFFF:x}"
            )
            dst_text = f"2001:db8:99::{dst_host:x}"
            dst = socket.inet_pton(socket.AF_INET6, dst_text)
            length = 8 + len(payload)
            udp = struct.pack("!HHHH", sport, 443, length, 0) + payload
            pseudo = src + dst + struct.pack("!I3xB", length, 17)
            udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
            head = struct.pack("!IHBB", 6 << 28, length, 17, 64) + src + dst
            v6.append((head + udp, dst_text))
            continue
        src = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, 1 + (i & 0xFF) % 254])
        dst_text = f"198.51.100.{dst_host}"
        dst = socket.inet_aton(dst_text)
        if kind == 8:  # a TCP SYN
            body = struct.pack("!HHIIBBHHH", sport, 443, i, 0, 5 << 4, 0x02, 64240, 0, 0)
            pseudo = src + dst + struct.pack("!BBH", 0, 6, len(body))
            body = body[:16] + struct.pack("!H", _checksum(pseudo + body)) + body[18:]
            proto = 6
        else:
            body = struct.pack("!HHHH", sport, 53 + i % 3, 8 + len(payload), 0) + payload
            proto = 17
        # the kernel fills in the total length, id and header checksum (IP_HDRINCL)
        head = struct.pack("!BBHHHBBH", 0x45, 0, 0, 0, 0, 64, proto, 0) + src + dst
        v4.append((head + body, dst_text))
    return v4, v6


def fill(ns: str, n: int) -> float:
    """Send the packets from inside the namespace; seconds taken."""
    v4, v6 = packets(n)

    def send() -> float:
        t0 = time.perf_counter()
        s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        with s4, s6:
            for data, dst in v4:
                s4.sendto(data, (dst, 0))
            for data, dst in v6:
                s6.sendto(data, (dst, 0))
        return time.perf_counter() - t0

    return run_in_netns(ns, send)


def count(ns: str) -> int:
    return run_in_netns(
        ns, lambda: int(Path("/proc/sys/net/netfilter/nf_conntrack_count").read_text())
    )


def raw_read(ns: str, keep: list[bytes] | None = None) -> tuple[float, int]:
    """Seconds to read the table file to its end, and its size (chunks kept in ``keep``)."""

    def read() -> tuple[float, int]:
        size = 0
        t0 = time.perf_counter()
        with thread_path(TABLE).open("rb", buffering=0) as fh:
            while chunk := fh.read(1 << 20):
                size += len(chunk)
                if keep is not None:
                    keep.append(chunk)
        return time.perf_counter() - t0, size

    return run_in_netns(ns, read)


def parse_cpu(data: bytes, parse: Callable[[bytes], object]) -> float:
    """CPU seconds to parse the table in the chunks a poll parses (about 1 MiB, whole lines)."""
    chunks = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + (1 << 20)) + 1 or len(data)
        chunks.append(data[start:end])
        start = end
    t0 = time.thread_time()
    for chunk in chunks:
        parse(chunk)
    return time.thread_time() - t0


def cli_list(ns: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        ["ip", "netns", "exec", ns, "conntrack", "-L", "-o", "extended"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=300,
    )
    return time.perf_counter() - t0


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=220_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/conntrack.py needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    missing = [t for t in ("ip", "nft", "conntrack") if shutil.which(t) is None]
    if missing:
        print(f"missing commands: {' '.join(missing)} (Debian packages)", file=sys.stderr)
        return 2

    ns = f"tabench{secrets.token_hex(3)}"
    sink = ns + "-sink"
    old_max = CT_MAX.read_text().strip()
    try:
        CT_MAX.write_text(str(max(int(old_max), args.entries * 2 + 65536)))
        build_namespaces(ns, sink)
        sent_s = fill(ns, args.entries)
        entries = count(ns)
        print(f"namespace {ns}: {entries} entries ({sent_s:.2f} s to generate)", file=sys.stderr)
        if entries < args.entries:
            print(f"only {entries} of {args.entries} entries were created", file=sys.stderr)

        source = ConntrackSource(ConntrackSettings(netns=ns, use_events=False))
        baseline_s = timed(source.start)
        polls: list[float] = []
        raws: list[float] = []
        clis: list[float] = []
        size = 0
        for _ in range(args.repeat):  # interleaved, so all three see the same machine state
            seconds, size = raw_read(ns)
            raws.append(seconds)
            polls.append(timed(source.poll))
            clis.append(cli_list(ns))
        source.stop()
        listed = source.metrics.entries
        kept: list[bytes] = []
        raw_read(ns, kept)
        table = b"".join(kept)
        fast_cpu = min(parse_cpu(table, parse_conntrack) for _ in range(3))
        regex_cpu = parse_cpu(table, _parse_regex)
        result = {
            "entries": entries,
            "poll_s": round(min(polls), 4),
            "raw_read_s": round(min(raws), 4),
            "conntrack_cli_s": round(min(clis), 4),
        }
        med = {
            "poll": statistics.median(polls),
            "raw": statistics.median(raws),
            "cli": statistics.median(clis),
        }

        def row(name: str, best: float, median: float, runs: list[float]) -> str:
            runs_text = " ".join(f"{x:.3f}" for x in runs)
            return f"{name:<14}{best:.3f} s (median {median:.3f}; runs {runs_text})\n"

        print(
            f"table: {size / 1e6:.1f} MB, {listed} entries parsed, "
            f"parse errors {source.metrics.parse.errors()}, load average {os.getloadavg()[0]:.2f}\n"
            f"baseline poll: {baseline_s:.3f} s\n"
            + row("poll:", result["poll_s"], med["poll"], polls)
            + row("raw read:", result["raw_read_s"], med["raw"], raws)
            + row("conntrack -L:", result["conntrack_cli_s"], med["cli"], clis)
            + f"parse CPU: {fast_cpu:.3f} s (the regex parser alone: {regex_cpu:.3f} s)\n"
            f"poll / raw read = {result['poll_s'] / result['raw_read_s']:.2f} (target <= 1.3; "
            f"medians: {med['poll'] / med['raw']:.2f})",
            file=sys.stderr,
        )
        print(json.dumps(result))
    finally:
        for name in (ns, sink):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        CT_MAX.write_text(old_max)
    return 0


if __name__ == "__main__":
    sys.exit(main())
