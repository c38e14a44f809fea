"""A minimal reader of classic pcap files (Ethernet or Linux cooked), for ground truth in tests.

Yields the IPv4/IPv6 packets' (src, dst, proto, ip_length) where ip_length is the length the IP
header states (what conntrack and exporters count), so truncated captures (-s) still count
full packets.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_RAW = 101


class IPPacket(NamedTuple):
    src: str
    dst: str
    proto: int
    length: int


def read_ip_packets(path: Path) -> Iterator[IPPacket]:
    """IP packets of a pcap file, in capture order (non-IP frames are skipped)."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path} is not a classic pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[pos + 8 : pos + 12])[0]
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        if len(frame) < incl:
            break  # a cut-off last record
        packet = _ip_of(frame, linktype)
        if packet is not None:
            yield packet


def _ip_of(frame: bytes, linktype: int) -> IPPacket | None:
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        ethertype = struct.unpack("!H", frame[12:14])[0]
        ip = frame[14:]
        if ethertype == 0x8100 and len(frame) >= 18:  # one VLAN tag
            ethertype = struct.unpack("!H", frame[16:18])[0]
            ip = frame[18:]
    elif linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        ethertype = struct.unpack("!H", frame[14:16])[0]
        ip = frame[16:]
    elif linktype == LINKTYPE_RAW:
        ethertype = 0x0800 if frame[:1] and frame[0] >> 4 == 4 else 0x86DD
        ip = frame
    else:
        raise ValueError(f"unsupported link type {linktype}")
    if ethertype == 0x0800 and len(ip) >= 20:
        length = struct.unpack("!H", ip[2:4])[0]
        return IPPacket(
            str(ipaddress.IPv4Address(ip[12:16])),
            str(ipaddress.IPv4Address(ip[16:20])),
            ip[9],
            length,
        )
    if ethertype == 0x86DD and len(ip) >= 40:
        length = 40 + struct.unpack("!H", ip[4:6])[0]
        return IPPacket(
            str(ipaddress.IPv6Address(ip[8:24])),
            str(ipaddress.IPv6Address(ip[24:40])),
            ip[6],
            length,
        )
    return None
