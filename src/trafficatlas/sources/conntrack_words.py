"""Numbers and addresses read straight from a byte buffer, eight bytes at a time, per column.

The buffer is viewed as unaligned little-endian ``uint64`` words starting at every byte
(``word_view``), so a word can be read at any offset with one gather. Numbers are decoded with
SWAR arithmetic (eight ASCII digits per multiply-shift sequence), dotted quads from the mask of
their dot bytes, and texts compared word by word. Every function works on whole columns of
positions; ``[start, end)`` always names a value's bytes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from trafficatlas.sources.conntrack_addr import parse_addresses

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]

PAD = 32  # zero bytes around the data: word loads may reach past either end


def word_view(data: bytes) -> tuple[bytes, U8, U64]:
    """The padded buffer, its bytes and its words (word i = bytes i..i+7; data starts at PAD)."""
    padded = bytes(PAD) + data + bytes(PAD)
    b = np.frombuffer(padded, dtype=np.uint8)
    w: U64 = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    return padded, b, w


def word(text: bytes) -> int:
    return int.from_bytes(text.ljust(8, b"\0")[:8], "little")


def low_mask(nbytes: int) -> int:
    return (1 << (8 * nbytes)) - 1


# HIGH[k]: the top k bytes of a word (a value right-aligned at its end); LOW_ZEROS[k]: '0' in
# the other bytes, so a short number reads as one with leading zeros.
HIGH = np.array([~low_mask(8 - k) & low_mask(8) for k in range(9)], dtype=np.uint64)
_LOW_ZEROS = np.array([word(b"0" * 8) & low_mask(8 - k) for k in range(9)], dtype=np.uint64)
_ZEROS = np.uint64(word(b"0" * 8))
_NIBBLE_HI = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIXES = np.uint64(0x0606060606060606)
_POW8 = np.uint64(10**8)


def _all_digits(x: U64) -> B:
    """Whether every byte of every word is an ASCII digit."""
    out: B = ((x & _NIBBLE_HI) == _ZEROS) & (((x + _SIXES) & _NIBBLE_HI) == _ZEROS)
    return out


def _swar8(x: U64) -> U64:
    """Value of eight ASCII digits per word (first digit in the lowest byte)."""
    x = ((x & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(2561)) >> np.uint64(8)
    x = ((x & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    out: U64 = ((x & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)
    return out


def numbers(w: U64, start: I64, end: I64, max_len: I64, longest: int) -> tuple[U64, B]:
    """Decimal numbers in ``[start, end)`` of 1..max_len digits (``longest`` <= 24), validity."""
    length = end - start
    ok = (length >= 1) & (length <= max_len)
    k = np.minimum(np.maximum(length, 0), 8)
    x = w[end - 8] & HIGH[k]
    ok &= _all_digits(x | _LOW_ZEROS[k])
    value = _swar8(x)
    for part in (1, 2):
        if longest <= 8 * part:
            break
        rows = np.flatnonzero(ok & (length > 8 * part))
        if not len(rows):
            break
        k = np.minimum(length[rows] - 8 * part, 8)
        x = w[end[rows] - 8 * (part + 1)] & HIGH[k]
        ok[rows] &= _all_digits(x | _LOW_ZEROS[k])
        value[rows] += _swar8(x) * _POW8**part
    return value, ok


def octets(w: U64, start: I64, end: I64) -> tuple[U64, B]:
    """Numbers of 1-3 digits up to 255 in ``[start, end)``, and validity."""
    length = end - start
    ok = (length >= 1) & (length <= 3)
    pad = (np.uint64(3) - np.minimum(np.maximum(length, 1), 3).astype(np.uint64)) * np.uint64(8)
    # the last three bytes before ``end``; bytes before the number become '0'
    y = ((w[end - 8] >> np.uint64(40)) >> pad << pad) | (
        np.uint64(0x303030) >> (np.uint64(24) - pad)
    )
    ok &= ((y & np.uint64(0xF0F0F0)) == np.uint64(0x303030)) & (
        ((y + np.uint64(0x060606)) & np.uint64(0xF0F0F0)) == np.uint64(0x303030)
    )
    value = (
        (y & np.uint64(15)) * np.uint64(100)
        + ((y >> np.uint64(8)) & np.uint64(15)) * np.uint64(10)
        + ((y >> np.uint64(16)) & np.uint64(15))
    )
    ok &= value <= np.uint64(255)
    return value, ok


def matches(w: U64, pos: I64, text: bytes) -> B:
    """Whether ``text`` is at ``pos`` (for every row)."""
    ok: B | None = None
    for i in range(0, len(text), 8):
        chunk = text[i : i + 8]
        hit = (w[pos + i] & np.uint64(low_mask(len(chunk)))) == np.uint64(word(chunk))
        ok = hit if ok is None else ok & hit
    assert ok is not None
    return ok


_HEX_COLON = np.zeros(256, dtype=bool)
_HEX_COLON[list(b"0123456789abcdefABCDEF:")] = True


def same_text(w: U64, s1: I64, e1: I64, s2: I64, e2: I64) -> B:
    """Whether two texts of up to 40 bytes are equal."""
    length = e1 - s1
    same: B = (length == (e2 - s2)) & (length <= 40)
    for i in (0, 8):
        k = np.minimum(np.maximum(length - i, 0), 8)
        same &= ((w[e1 - 8 - i] ^ w[e2 - 8 - i]) & HIGH[k]) == 0
    longer = np.flatnonzero(same & (length > 16))
    if len(longer):  # IPv6: the words before the last two
        e1, e2, length = e1[longer], e2[longer], length[longer]
        rest = np.ones(len(longer), dtype=bool)
        for i in (16, 24, 32):
            k = np.minimum(np.maximum(length - i, 0), 8)
            rest &= ((w[e1 - 8 - i] ^ w[e2 - 8 - i]) & HIGH[k]) == 0
        same[longer] = rest
    return same


def full_ipv6(b: U8, start: I64, end: I64) -> tuple[U64, U64, B]:
    """The kernel's full IPv6 form (8 groups of 4 hex digits) in [start, end)."""
    full = (end - start) == 39
    mat = b[np.where(full, start, 0)[:, None] + np.arange(39)]
    # only what the regex parser's address pattern takes ([0-9a-fA-F:] here)
    full &= _HEX_COLON[mat].all(axis=1)
    mat[~full] = 0
    hi, lo, good = parse_addresses(mat, np.full(len(start), 6, dtype=np.uint8))
    return hi, lo, good & full


_DOTS: list[npt.NDArray[np.uint16]] = []


def _dot_table() -> npt.NDArray[np.uint16]:
    """16-bit mask of dot bytes -> the three dot positions (4 bits each), bit 12 set; else 0."""
    if not _DOTS:
        masks = np.arange(1 << 16, dtype=np.uint32)
        bits = (masks[:, None] >> np.arange(16, dtype=np.uint32)) & 1
        three = bits.sum(axis=1) == 3
        where = np.nonzero(bits[three])[1].reshape(-1, 3).astype(np.uint16)
        table = np.zeros(1 << 16, dtype=np.uint16)
        table[three] = where[:, 0] | (where[:, 1] << 4) | (where[:, 2] << 8) | (1 << 12)
        _DOTS.append(table)
    return _DOTS[0]


_DOT_BYTES = np.uint64(word(b"." * 8))
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ONES = np.uint64(0x0101010101010101)
_HIGH_BITS = np.uint64(0x8080808080808080)
_MOVEMASK = np.uint64(0x0102040810204080)


def _dot_mask(x: U64) -> U64:
    """8-bit mask of the bytes of each word that are '.' (byte i -> bit i)."""
    v = ~(x ^ _DOT_BYTES)  # 0xFF where the byte is a dot
    flags = ((v & _LOW7) + _ONES) & v & _HIGH_BITS
    out: U64 = ((flags >> np.uint64(7)) * _MOVEMASK) >> np.uint64(56)
    return out


def dotted_quads(w: U64, start: I64, end: I64) -> tuple[U64, B]:
    """IPv4 text in [start, end): four 1-3 digit octets up to 255, three dots.

    The 16 bytes before ``end`` are read as two words; a table turns the mask of their dot
    bytes into the dots' positions.
    """
    length = end - start
    ok = (length >= 7) & (length <= 15)
    k = np.minimum(np.maximum(length, 8), 16) - 8  # bytes of the text in the lower word
    x_lo = w[end - 16] & HIGH[k]
    x_hi = w[end - 8]
    mask = _dot_mask(x_lo) | (_dot_mask(x_hi) << np.uint64(8))
    packed = _dot_table()[mask].astype(np.int64)
    ok &= packed >= (1 << 12)
    base = end - 16
    d0 = base + (packed & 15)
    d1 = base + ((packed >> 4) & 15)
    d2 = base + ((packed >> 8) & 15)
    # octets: [start, d0), [d0+1, d1), [d1+1, d2), [d2+1, end)
    n = len(start)
    o_start = np.concatenate([start, d0 + 1, d1 + 1, d2 + 1])
    o_end = np.concatenate([d0, d1, d2, end])
    value, good = octets(w, o_start, o_end)
    ok &= good.reshape(4, n).all(axis=0)
    o = value.reshape(4, n)
    quads = (o[0] << np.uint64(24)) | (o[1] << np.uint64(16)) | (o[2] << np.uint64(8)) | o[3]
    return quads, ok
