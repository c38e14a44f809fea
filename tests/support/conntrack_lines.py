"""Conntrack lines written the way the kernel and conntrack-tools print them, for tests.

:class:`Entry` holds one connection; :func:`proc_line` renders it as /proc/net/nf_conntrack does
(IPv6 in the full ``%pI6`` form), :func:`cli_line` as ``conntrack -L -o extended,id`` does and
:func:`event_line` as ``conntrack -E -o extended,id``. :func:`synthetic_table` makes a large
table quickly (for measurements).
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, replace

PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 47: "gre", 132: "sctp"}


@dataclass(frozen=True)
class Entry:
    """One connection: original tuple (src → dst) and reply tuple (rsrc → rdst)."""

    proto: int
    src: str
    dst: str
    rsrc: str
    rdst: str
    sport: int = 0  # ICMP: echo id
    dport: int = 0  # ICMP: type << 8 | code of the original direction
    opk: int = 0
    oby: int = 0
    rpk: int = 0
    rby: int = 0
    zone: int = 0
    ct_id: int = 0
    timeout: int = 117
    state: str = "ESTABLISHED"

    @property
    def family(self) -> int:
        return ipaddress.ip_address(self.src).version

    def grown(self, opk: int = 0, oby: int = 0, rpk: int = 0, rby: int = 0) -> Entry:
        """The same connection with larger counters."""
        return replace(
            self, opk=self.opk + opk, oby=self.oby + oby, rpk=self.rpk + rpk, rby=self.rby + rby
        )


def _full(addr: str) -> str:
    ip = ipaddress.ip_address(addr)
    return ip.exploded if ip.version == 6 else str(ip)


def _tuple(e: Entry, reply: bool, full: bool) -> str:
    a, b = (e.rsrc, e.rdst) if reply else (e.src, e.dst)
    if full:
        a, b = _full(a), _full(b)
    text = f"src={a} dst={b}"
    if e.proto in (6, 17, 132):
        sport, dport = (e.dport, e.sport) if reply else (e.sport, e.dport)
        text += f" sport={sport} dport={dport}"
    elif e.proto in (1, 58):
        itype, code = e.dport >> 8, e.dport & 0xFF
        if reply:
            itype = {8: 0, 128: 129}.get(itype, itype)
        text += f" type={itype} code={code} id={e.sport}"
    elif e.proto == 47:
        text += " srckey=0x0 dstkey=0x0"
    return text


def _head(e: Entry) -> str:
    l3 = "ipv4     2" if e.family == 4 else "ipv6     10"
    name = PROTO_NAMES.get(e.proto, "unknown")
    state = f" {e.state}" if e.proto == 6 else ""
    return f"{l3} {name:<8} {e.proto} {e.timeout}{state}"


def _counters(pk: int, by: int, acct: bool) -> str:
    return f" packets={pk} bytes={by}" if acct else ""


def proc_line(e: Entry, acct: bool = True) -> str:
    """As /proc/net/nf_conntrack prints the entry."""
    unreplied = " [UNREPLIED]" if e.rpk == 0 else ""
    flags = " [ASSURED]" if e.rpk and e.proto == 6 else ""
    return (
        f"{_head(e)} {_tuple(e, False, True)}{_counters(e.opk, e.oby, acct)}{unreplied}"
        f" {_tuple(e, True, True)}{_counters(e.rpk, e.rby, acct)}{flags}"
        f" mark=0 zone={e.zone} use=2"
    )


def cli_line(e: Entry) -> str:
    """As ``conntrack -L -o extended,id`` prints the entry."""
    unreplied = " [UNREPLIED]" if e.rpk == 0 else ""
    zone = f" zone={e.zone}" if e.zone else ""
    return (
        f"{_head(e)} {_tuple(e, False, False)}{_counters(e.opk, e.oby, True)}{unreplied}"
        f" {_tuple(e, True, False)}{_counters(e.rpk, e.rby, True)} mark=0{zone} use=1"
        f" id={e.ct_id}"
    )


def event_line(e: Entry, kind: str = "DESTROY") -> str:
    """As ``conntrack -E -o extended,id`` prints an event for the entry."""
    counters = kind == "DESTROY"
    tag = f"[{kind}]".rjust(9)
    unreplied = " [UNREPLIED]" if e.rpk == 0 else ""
    return (
        f"{tag} {_head(e)} {_tuple(e, False, False)}{_counters(e.opk, e.oby, counters)}{unreplied}"
        f" {_tuple(e, True, False)}{_counters(e.rpk, e.rby, counters)} id={e.ct_id}"
    )


def synthetic_table(n: int, seed: int = 1) -> bytes:
    """``n`` /proc lines of NATed client connections (60% TCP, 20% UDP, 10% ICMP, 10% IPv6 UDP)."""
    rnd = random.Random(seed)
    lines = []
    for i in range(n):
        kind = i % 10
        client = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        server = f"198.51.100.{rnd.randrange(1, 255)}"
        sport = rnd.randrange(1024, 65535)
        counters = {
            "opk": rnd.randrange(1, 10**4),
            "oby": rnd.randrange(40, 10**9),
            "rpk": rnd.randrange(1, 10**4),
            "rby": rnd.randrange(40, 10**9),
        }
        if kind < 6:
            e = Entry(6, client, server, server, "198.51.100.1", sport, 443, **counters)
        elif kind < 8:
            e = Entry(17, client, server, server, "198.51.100.1", sport, 53, **counters)
        elif kind < 9:
            e = Entry(1, client, server, server, "198.51.100.1", sport, 8 << 8, **counters)
        else:
            c6 = f"2001:db8:{rnd.randrange(65536):x}::{rnd.randrange(1, 65536):x}"
            e = Entry(17, c6, "2001:db8:99::1", "2001:db8:99::1", c6, sport, 443, **counters)
        lines.append(proc_line(e))
    return ("\n".join(lines) + "\n").encode()
