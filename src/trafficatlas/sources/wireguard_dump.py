"""Parser for ``wg show all dump``: interface lines and peer lines, bad lines counted.

The dump is tab-separated, one line per interface followed by one line per peer::

    IFACE  private-key  public-key  listen-port  fwmark
    IFACE  public-key  preshared-key  endpoint  allowed-ips  latest-handshake  rx  tx  keepalive

Private and preshared keys are secrets: they are skipped, never stored, and never echoed in an
error (a bad line is counted, not quoted).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from trafficatlas.net import parse_ip
from trafficatlas.sources.peers import check_public_key

NONE = "(none)"
_U64 = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a peer's packets come from: (version, hi, lo) of the address, and the UDP port."""

    version: int
    hi: int
    lo: int
    port: int
    text: str  # "198.51.100.2:51820" or "[2001:db8::2]:51820", as wg prints it

    @property
    def address(self) -> str:
        """The address without the port or brackets."""
        host = self.text.rsplit(":", 1)[0]
        return host[1:-1] if host.startswith("[") else host


@dataclass(frozen=True, slots=True)
class DumpInterface:
    name: str
    public_key: str | None  # None before a private key is set
    listen_port: int
    fwmark: int


@dataclass(frozen=True, slots=True)
class DumpPeer:
    interface: str
    public_key: str
    endpoint: Endpoint | None
    allowed_ips: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    latest_handshake: int  # epoch seconds, 0 = never
    rx_bytes: int
    tx_bytes: int
    keepalive_s: int  # 0 = off


@dataclass(slots=True)
class Dump:
    """One parsed dump; ``errors`` counts lines that did not parse (by kind)."""

    interfaces: list[DumpInterface] = field(default_factory=list)
    peers: list[DumpPeer] = field(default_factory=list)
    lines: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def count(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class _BadLineError(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


def parse_dump(text: str) -> Dump:
    """Parse ``wg show all dump`` output; malformed lines are counted in ``errors``, never raised."""
    out = Dump()
    for raw in text.splitlines():
        if not raw.strip():
            continue
        out.lines += 1
        fields = raw.split("\t")
        try:
            if len(fields) == 5:
                out.interfaces.append(_interface(fields))
            elif len(fields) == 9:
                out.peers.append(_peer(fields))
            else:
                raise _BadLineError("fields")
        except _BadLineError as bad:
            out.count(bad.kind)
    return out


def _name(text: str) -> str:
    # Linux interface names: 1-15 bytes, no '/', no whitespace (nor control characters)
    if not 0 < len(text.encode()) <= 15 or "/" in text or not text.isprintable() or " " in text:
        raise _BadLineError("interface")
    return text


def _uint(text: str, kind: str, limit: int = _U64) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise _BadLineError(kind)
    value = int(text)
    if value > limit:
        raise _BadLineError(kind)
    return value


def _key(text: str) -> str:
    try:
        return check_public_key(text)
    except ValueError:
        raise _BadLineError("key") from None


def _interface(f: list[str]) -> DumpInterface:
    name = _name(f[0])
    public = None if f[2] == NONE else _key(f[2])
    port = _uint(f[3], "port", 0xFFFF)
    fwmark = 0 if f[4] == "off" else _fwmark(f[4])
    return DumpInterface(name, public, port, fwmark)


def _fwmark(text: str) -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else _uint(text, "fwmark")
    except ValueError:
        raise _BadLineError("fwmark") from None
    if not 0 <= value <= 0xFFFF_FFFF:
        raise _BadLineError("fwmark")
    return value


def _peer(f: list[str]) -> DumpPeer:
    return DumpPeer(
        interface=_name(f[0]),
        public_key=_key(f[1]),
        endpoint=None if f[3] == NONE else _endpoint(f[3]),
        allowed_ips=_allowed(f[4]),
        latest_handshake=_uint(f[5], "handshake"),
        rx_bytes=_uint(f[6], "counter"),
        tx_bytes=_uint(f[7], "counter"),
        keepalive_s=0 if f[8] == "off" else _uint(f[8], "keepalive", 0xFFFF),
    )


def _endpoint(text: str) -> Endpoint:
    """``a.b.c.d:port`` or ``[v6(%scope)]:port`` (raises _BadLineError)."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise _BadLineError("endpoint")
    if host.startswith("["):
        if not host.endswith("]"):
            raise _BadLineError("endpoint")
        host = host[1:-1]
        if ":" not in host:
            raise _BadLineError("endpoint")
    elif ":" in host:
        raise _BadLineError("endpoint")  # IPv6 without brackets: ambiguous
    try:
        version, hi, lo = parse_ip(host)
    except ValueError:
        raise _BadLineError("endpoint") from None
    port = _uint(port_text, "endpoint", 0xFFFF)
    return Endpoint(version, hi, lo, port, text)


def _allowed(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if text == NONE:
        return ()
    nets = []
    for part in text.split(","):
        try:
            nets.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise _BadLineError("allowed_ips") from None
    return tuple(nets)
