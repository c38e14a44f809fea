"""Vectorized text → (hi, lo) conversion of the addresses in conntrack lines.

IPv4 dotted quads and the kernel's full-length IPv6 form (``%pI6``: 8 groups of 4 hex digits, as
in /proc/net/nf_conntrack) are decoded with NumPy over the whole column. Compressed IPv6 text
(``conntrack`` prints ``2001:db8::1``) goes through :mod:`ipaddress` once per distinct address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]

_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _i
    _HEX[_c - 32] = 10 + _i
_V6_COLONS = np.arange(4, 39, 5)  # positions of ':' in the full form
_V6_DIGITS = np.array([i for i in range(39) if (i + 1) % 5 != 0])
_V6_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)  # 16 nibbles per half, most significant first


def parse_addresses(mat: U8, family: U8) -> tuple[U64, U64, B]:
    """(hi, lo, ok) for address text in a (n, 39) NUL-padded byte matrix (``family``: 4 or 6)."""
    n = mat.shape[0]
    hi = np.zeros(n, dtype=np.uint64)
    lo = np.zeros(n, dtype=np.uint64)
    ok = np.zeros(n, dtype=bool)
    if not n:
        return hi, lo, ok
    is4 = family == 4
    if is4.any():
        idx = np.flatnonzero(is4)
        value, good = _parse_v4(mat[idx, :16])
        lo[idx] = value
        ok[idx] = good
    is6 = ~is4
    if is6.any():
        idx = np.flatnonzero(is6)
        h, low, good = _parse_v6_full(mat[idx])
        hi[idx] = h
        lo[idx] = low
        ok[idx] = good
        rest = idx[~good]
        if len(rest):
            text = np.ascontiguousarray(mat[rest]).view("S39").reshape(-1)
            h2, l2, g2 = _parse_v6_text(text)
            hi[rest] = h2
            lo[rest] = l2
            ok[rest] = g2
    return hi, lo, ok


def _parse_v4(mat: U8) -> tuple[U64, B]:
    """Dotted quads in a (n, 16) byte matrix (NUL padded): 4 octets of 1-3 digits, each <= 255."""
    n = mat.shape[0]
    acc = np.zeros(n, dtype=np.uint64)
    cur = np.zeros(n, dtype=np.uint64)
    ndig = np.zeros(n, dtype=np.uint8)
    dots = np.zeros(n, dtype=np.uint8)
    ok = np.ones(n, dtype=bool)
    done = np.zeros(n, dtype=bool)
    for j in range(mat.shape[1]):
        c = mat[:, j]
        live = ~done
        digit = live & (c >= 48) & (c <= 57)
        sep = live & ((c == 46) | (c == 0))
        ok &= ~(live & ~digit & ~sep)
        cur = np.where(digit, cur * np.uint64(10) + (c.astype(np.uint64) - np.uint64(48)), cur)
        ndig = ndig + digit.astype(np.uint8)
        ok &= ~(sep & ((ndig == 0) | (ndig > 3) | (cur > 255)))
        acc = np.where(sep, (acc << np.uint64(8)) | cur, acc)
        dots = dots + (sep & (c == 46)).astype(np.uint8)
        cur = np.where(sep, np.uint64(0), cur)
        ndig = np.where(sep, np.uint8(0), ndig)
        done |= live & (c == 0)
    ok &= done & (dots == 3)
    return np.where(ok, acc, np.uint64(0)), ok


def _parse_v6_full(mat: U8) -> tuple[U64, U64, B]:
    """The uncompressed form ``xxxx:xxxx:...:xxxx`` (exactly 39 characters)."""
    colons = (mat[:, _V6_COLONS] == ord(":")).all(axis=1)
    nib = _HEX[mat[:, _V6_DIGITS]]
    ok = colons & (nib != 255).all(axis=1)
    nib64 = np.where(ok[:, None], nib, 0).astype(np.uint64)
    hi = (nib64[:, :16] << _V6_SHIFTS).sum(axis=1, dtype=np.uint64)
    lo = (nib64[:, 16:] << _V6_SHIFTS).sum(axis=1, dtype=np.uint64)
    return hi, lo, ok


def _parse_v6_text(col: npt.NDArray[Any]) -> tuple[U64, U64, B]:
    """Any other IPv6 text (an ``S39`` column), via :mod:`ipaddress` once per distinct value."""
    uniq, inverse = np.unique(col, return_inverse=True)
    u_hi = np.zeros(len(uniq), dtype=np.uint64)
    u_lo = np.zeros(len(uniq), dtype=np.uint64)
    u_ok = np.zeros(len(uniq), dtype=bool)
    for i, text in enumerate(uniq.tolist()):
        try:
            value = int(ipaddress.IPv6Address(text.decode("ascii")))
        except (ValueError, UnicodeDecodeError):
            continue
        u_hi[i] = value >> 64
        u_lo[i] = value & 0xFFFF_FFFF_FFFF_FFFF
        u_ok[i] = True
    inverse = inverse.reshape(-1)
    return u_hi[inverse], u_lo[inverse], u_ok[inverse]
