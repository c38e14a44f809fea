"""IP addresses as integers: conversion between text and the (version, hi, lo) columns."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

V4_MAPPED_HI = np.uint64(0)
V4_MAPPED_LO_PREFIX = np.uint64(0xFFFF_0000_0000)
MASK64 = (1 << 64) - 1


def parse_ip(text: str) -> tuple[int, int, int]:
    """Parse one address into (version, hi, lo); IPv4-mapped IPv6 becomes IPv4.

    Raises ValueError with a clear message for anything that is not an IP address.
    """
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"not an IP address: {text.strip()!r}") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return 4, 0, int(addr.ipv4_mapped)
    value = int(addr)
    if addr.version == 4:
        return 4, 0, value
    return 6, value >> 64, value & MASK64


def parse_ips(
    texts: Iterable[str],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Parse many addresses into (version, hi, lo) columns (raises ValueError on the first bad one)."""
    parsed = [parse_ip(t) for t in texts]
    if not parsed:
        return (np.zeros(0, np.uint8), np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    arr = np.array(parsed, dtype=object)
    return (
        arr[:, 0].astype(np.uint8),
        np.array([p[1] for p in parsed], dtype=np.uint64),
        np.array([p[2] for p in parsed], dtype=np.uint64),
    )


def format_ip(version: int, hi: int, lo: int) -> str:
    """Text form of one (version, hi, lo) address."""
    if version == 4:
        return str(ipaddress.IPv4Address(int(lo) & 0xFFFF_FFFF))
    return str(ipaddress.IPv6Address((int(hi) << 64) | int(lo)))


def format_network(version: int, hi: int, lo: int, prefix_len: int) -> str:
    """Text form of a network given its first address and prefix length."""
    if version == 4:
        return str(ipaddress.IPv4Network((int(lo) & 0xFFFF_FFFF, int(prefix_len)), strict=False))
    return str(ipaddress.IPv6Network(((int(hi) << 64) | int(lo), int(prefix_len)), strict=False))


def unmap_v4(
    version: npt.NDArray[np.uint8], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Turn IPv4-mapped IPv6 rows (::ffff:a.b.c.d) into IPv4 rows; other rows unchanged."""
    mapped = (version == 6) & (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    if not mapped.any():
        return version, hi, lo
    version = version.copy()
    hi = hi.copy()
    lo = lo.copy()
    version[mapped] = 4
    lo[mapped] &= np.uint64(0xFFFF_FFFF)
    return version, hi, lo
