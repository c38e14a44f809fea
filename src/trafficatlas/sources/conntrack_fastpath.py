"""Fast path of the conntrack parser: /proc/net/nf_conntrack lines in the kernel's exact layout.

The kernel prints every entry with the same fields in the same order for a given protocol and
configuration (``ct_seq_show``)::

    ipv4     2 udp      17 899 src=A dst=A sport=N dport=N packets=N bytes=N [UNREPLIED]
        src=A dst=A sport=N dport=N packets=N bytes=N [ASSURED] mark=N zone=N use=N

So a line is located by its ``=`` signs alone: the k-th ``=`` of a line of a given layout is
always the same key, each value runs from its ``=`` to the separator before the next key, and the
whole line is checked byte for byte against the layout (header, keys, separators and flags),
with 8-byte words read at any offset through an unaligned ``uint64`` view of the buffer.
Numbers are parsed eight digits at a time with SWAR arithmetic on those words; dotted quads from
the positions of their dots. Everything runs over whole columns, with few NumPy calls per chunk.

A line that deviates in any way (another layout, a cut or damaged line, an out-of-range value,
``conntrack`` or event output) is *rejected*: the regex parser handles it, so results are
identical to the regex parser's for every input, only faster for the kernel's own lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from trafficatlas.sources.conntrack_words import (
    PAD,
    dotted_quads,
    full_ipv6,
    low_mask,
    matches,
    numbers,
    same_text,
    word,
    word_view,
)

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
Columns = dict[str, npt.NDArray[Any]]


# -- line headers ------------------------------------------------------------------------------

PORT, ICMP = 0, 1
_L4 = {  # l4 name: (number, kind)
    b"tcp": (6, PORT),
    b"udp": (17, PORT),
    b"udplite": (136, PORT),
    b"sctp": (132, PORT),
    b"dccp": (33, PORT),
    b"icmp": (1, ICMP),
    b"icmpv6": (58, ICMP),
}


@dataclass(frozen=True, slots=True)
class _Headers:
    """The exact header texts ("%-8s %u %-8s %u ") taken, up to 24 bytes, as words."""

    key: U64  # sorted: a hash of word 1 and the first 6 bytes of word 2 of each header
    words: U64  # (h, 3): the header's three words, masked
    masks: U64  # (h, 3)
    length: I64
    family: I64
    proto: I64
    kind: I64


_KEY_MASK = np.uint64(low_mask(6))


def _key(w1: U64, w2: U64) -> U64:
    out: U64 = w1 ^ (w2 * np.uint64(0x9E3779B97F4A7C15))
    return out


def _headers() -> _Headers:
    texts = []
    for family, l3 in ((4, b"ipv4     2 "), (6, b"ipv6     10 ")):
        for name, (number, kind) in _L4.items():
            text = l3 + name.ljust(8) + b" %d " % number
            if len(text) <= 24:
                texts.append((text, family, number, kind))
    words = np.array([[word(t[i : i + 8]) for i in (0, 8, 16)] for t, *_ in texts], np.uint64)
    masks = np.array(
        [[low_mask(min(max(len(t) - i, 0), 8)) for i in (0, 8, 16)] for t, *_ in texts],
        np.uint64,
    )
    # every header is 22 bytes or more, and word 1 with the first 6 bytes of word 2 (the l4 name
    # and number) tells them apart
    key = _key(words[:, 1], words[:, 2] & _KEY_MASK)
    if len(np.unique(key)) != len(key):
        raise AssertionError("conntrack header keys collide")
    order = np.argsort(key)
    return _Headers(
        key=key[order],
        words=words[order],
        masks=masks[order],
        length=np.array([len(t) for t, *_ in texts], np.int64)[order],
        family=np.array([f for _, f, _, _ in texts], np.int64)[order],
        proto=np.array([p for _, _, p, _ in texts], np.int64)[order],
        kind=np.array([k for *_, k in texts], np.int64)[order],
    )


_HEADERS = _headers()

# -- value layouts -----------------------------------------------------------------------------

_NUMERIC = {  # value kind: (max digits, max value)
    "port": (5, 0xFFFF),
    "u8": (3, 0xFF),
    "u16": (5, 0xFFFF),
    "count": (19, (1 << 64) - 1),
    "mark": (10, 0xFFFF_FFFF),
    "zone": (5, 0xFFFF),
    "digits": (19, (1 << 64) - 1),  # delta-time, use: checked, not kept
}
_REGION_MAX = 24  # timeout and protocol state between the header and " src="
_ADDRESSES = ("osrc", "odst", "rsrc", "rdst")


@dataclass(frozen=True, slots=True)
class _Layout:
    """The keys of one line layout, by position of their "=" in the line."""

    keys: tuple[str, ...]
    seps: tuple[tuple[bytes, ...], ...]  # text before each "=" (variants, longest first)
    simple: list[int]  # keys after the first with one separator of up to 8 bytes
    simple_len: I64
    simple_word: U64
    simple_mask: U64
    other: list[int]  # the remaining keys after the first
    numeric: list[int]
    max_len: I64
    max_value: U64
    addresses: list[int]


def _layout(kind: int, acct: bool, delta_time: bool) -> _Layout:
    spec: list[tuple[str, str, tuple[bytes, ...]]] = []
    for side in ("o", "r"):
        src = (b" src",) if side == "o" else (b" [UNREPLIED] src", b" src")
        spec += [(side + "src", "A", src), (side + "dst", "A", (b" dst",))]
        if kind == PORT:
            spec += [(side + "sport", "port", (b" sport",)), (side + "dport", "port", (b" dport",))]
        else:
            spec += [
                (side + "type", "u8", (b" type",)),
                (side + "code", "u8", (b" code",)),
                (side + "icmp", "u16", (b" id",)),
            ]
        if acct:
            spec += [(side + "pk", "count", (b" packets",)), (side + "by", "count", (b" bytes",))]
    spec += [("mark", "mark", (b" [ASSURED] mark", b" mark")), ("zone", "zone", (b" zone",))]
    if delta_time:
        spec.append(("dtime", "digits", (b" delta-time",)))
    spec.append(("use", "digits", (b" use",)))
    seps = tuple(s for _, _, s in spec)
    simple = [j for j, s in enumerate(seps) if j and len(s) == 1 and len(s[0]) <= 8]
    texts = [seps[j][0] for j in simple]
    numeric = [j for j, (_, kind_, _) in enumerate(spec) if kind_ != "A"]
    return _Layout(
        keys=tuple(k for k, _, _ in spec),
        seps=seps,
        simple=simple,
        simple_len=np.array([len(t) for t in texts], dtype=np.int64),
        simple_word=np.array([word(t) for t in texts], dtype=np.uint64),
        simple_mask=np.array([low_mask(len(t)) for t in texts], dtype=np.uint64),
        other=[j for j in range(1, len(spec)) if j not in simple],
        numeric=numeric,
        max_len=np.array([_NUMERIC[spec[j][1]][0] for j in numeric], dtype=np.int64),
        max_value=np.array([_NUMERIC[spec[j][1]][1] for j in numeric], dtype=np.uint64),
        addresses=[j for j, (k, _, _) in enumerate(spec) if k in _ADDRESSES],
    )


# by (kind, number of "=" in the line)
_LAYOUTS = {
    (kind, len(lay.keys)): lay
    for kind in (PORT, ICMP)
    for lay in (_layout(kind, acct, dt) for acct in (True, False) for dt in (False, True))
}
_LAYOUT_IDS = {key: i for i, key in enumerate(_LAYOUTS)}
_LAYOUT_BY_CODE = np.full(2 * 64, -1, dtype=np.int64)  # kind * 64 + count -> layout number
for (_kind, _count), _i in _LAYOUT_IDS.items():
    _LAYOUT_BY_CODE[_kind * 64 + _count] = _i
_LAYOUT_LIST = list(_LAYOUTS.values())


# -- parsing -----------------------------------------------------------------------------------


@dataclass(slots=True)
class FastLines:
    """Rows of the accepted lines (by line index), and the rejected lines' extents."""

    line: I64  # index among the non-empty lines, ascending
    columns: Columns  # ConntrackTable columns of the accepted rows (those that vary)
    rejected_line: I64
    rejected_start: I64
    rejected_end: I64


def fast_lines(data: bytes) -> FastLines:
    """Split ``data`` into lines, parse the kernel-layout ones, and list the others."""
    _, b, w = word_view(data)
    end_of_data = PAD + len(data)
    body = b[PAD:end_of_data]
    nl = np.flatnonzero(body == 10) + PAD
    starts = np.concatenate([[PAD], nl + 1])
    ends = np.concatenate([nl, [end_of_data]])
    if ends[-1] == starts[-1]:  # data ends with its newline
        starts, ends = starts[:-1], ends[:-1]
    keep = ends > starts  # empty lines are not lines
    if not keep.all():
        starts, ends = starts[keep], ends[keep]
    parts = _parse_lines(b, w, body, starts, ends) if len(starts) else []
    if len(parts) == 1:
        line, columns = parts[0]
    elif parts:
        line = np.concatenate([p[0] for p in parts])
        order = np.argsort(line)
        line = line[order]
        columns = {k: np.concatenate([p[1][k] for p in parts])[order] for k in parts[0][1]}
    else:
        line, columns = np.zeros(0, np.int64), {}
    if len(line) == len(starts):
        rejected = np.zeros(0, np.int64)
    else:
        accepted = np.zeros(len(starts), dtype=bool)
        accepted[line] = True
        rejected = np.flatnonzero(~accepted)
    return FastLines(
        line=line,
        columns=columns,
        rejected_line=rejected,
        rejected_start=starts[rejected] - PAD,
        rejected_end=ends[rejected] - PAD,
    )


def _parse_lines(b: U8, w: U64, body: U8, starts: I64, ends: I64) -> list[tuple[I64, Columns]]:
    """(line numbers, columns) of the accepted lines, one part per layout found."""
    eq = np.flatnonzero(body == 61) + PAD
    first = np.searchsorted(eq, starts)
    count = np.searchsorted(eq, ends) - first
    # the header, found by a hash of its l4 name and number, then compared word for word
    h = _HEADERS
    w0, w1 = w[starts], w[starts + 8]
    w2 = w[starts + 16]
    key = _key(w1, w2 & _KEY_MASK)
    slot = np.minimum(np.searchsorted(h.key, key), len(h.key) - 1)
    ok = (h.key[slot] == key) & (count >= 11) & (count < 64)
    ok &= (w0 == h.words[slot, 0]) & (w1 == h.words[slot, 1])
    ok &= (w2 & h.masks[slot, 2]) == h.words[slot, 2]
    # timeout and state: tokens separated by single spaces, then " src="
    header_end = starts + h.length[slot]
    p0 = eq[np.minimum(first, len(eq) - 1)] if len(eq) else header_end
    region = p0 - 4 - header_end
    ok &= (region >= 1) & (region <= _REGION_MAX)
    cand = np.flatnonzero(ok)
    if not len(cand):
        return []
    good = matches(w, p0[cand] - 4, b" src=") & _region_ok(b, header_end[cand], region[cand])
    cand = cand[good]
    code = _LAYOUT_BY_CODE[h.kind[slot[cand]] * 64 + count[cand]]
    parts = []
    present = np.unique(code)
    for layout_id in present.tolist():
        if layout_id < 0:
            continue
        lines = cand if len(present) == 1 else cand[code == layout_id]
        s = slot[lines]
        accepted, cols = _parse_layout(
            b, w, _LAYOUT_LIST[layout_id], eq, first[lines], ends[lines], h.family[s]
        )
        if not accepted.all():
            lines, s = lines[accepted], s[accepted]
            cols = {k: v[accepted] for k, v in cols.items()}
        cols["family"] = h.family[s].astype(np.uint8)
        cols["proto"] = h.proto[s].astype(np.uint8)
        parts.append((lines.astype(np.int64), cols))
    return parts


def _region_ok(b: U8, start: I64, length: I64) -> B:
    """[start, start+length) is tokens separated by single spaces (as the regex requires)."""
    mat = b[start[:, None] + np.arange(_REGION_MAX)]
    space = mat == 32
    inside = np.arange(1, _REGION_MAX) < length[:, None]
    ok: B = ~(space[:, 1:] & space[:, :-1] & inside).any(axis=1)
    ok &= (b[start] != 32) & (b[start + length - 1] != 32)
    return ok


def _parse_layout(
    b: U8, w: U64, layout: _Layout, eq: I64, first: I64, line_end: I64, family: I64
) -> tuple[B, Columns]:
    """Columns of lines whose "=" signs follow ``layout``; the mask says which lines fit it.

    Arrays are key-major, (keys, lines), so that every key's values are contiguous.
    """
    nkeys = len(layout.keys)
    pos = eq[first + np.arange(nkeys)[:, None]]  # (nkeys, m): the "=" of every key
    m = pos.shape[1]
    sep_len = np.zeros((nkeys, m), dtype=np.int64)
    sep_len[layout.simple] = layout.simple_len[:, None]
    words = w[pos[layout.simple] - layout.simple_len[:, None]]
    ok: B = ((words & layout.simple_mask[:, None]) == layout.simple_word[:, None]).all(axis=0)
    for j in layout.other:
        p = pos[j]
        longer, shorter = layout.seps[j] if len(layout.seps[j]) == 2 else (layout.seps[j][0], b"")
        hit = matches(w, p - len(longer), longer)
        sep_len[j] = np.where(hit, len(longer), len(shorter))
        if shorter:
            miss = np.flatnonzero(~hit)
            ok[miss] &= matches(w, p[miss] - len(shorter), shorter)
        else:
            ok &= hit
    value_start = pos + 1
    value_end = np.empty_like(pos)
    np.subtract(pos[1:], sep_len[1:], out=value_end[:-1])
    value_end[-1] = line_end
    num = layout.numeric
    v, valid = numbers(
        w,
        value_start[num].reshape(-1),
        value_end[num].reshape(-1),
        np.repeat(layout.max_len, m),
        int(layout.max_len.max()),
    )
    v = v.reshape(len(num), m)
    ok &= (valid.reshape(len(num), m) & (v <= layout.max_value[:, None])).all(axis=0)
    values = {layout.keys[j]: v[i] for i, j in enumerate(num)}
    a = layout.addresses
    hi, lo, valid = _addresses(b, w, value_start[a], value_end[a], family)
    ok &= valid
    cols: Columns = {}
    for i, name in enumerate(("orig_src", "orig_dst", "reply_src", "reply_dst")):
        cols[name + "_hi"] = hi[i]
        cols[name + "_lo"] = lo[i]
    for side, name in (("o", "orig"), ("r", "reply")):
        if side + "sport" in values:
            cols[f"{name}_sport"] = values[side + "sport"].astype(np.uint16)
            cols[f"{name}_dport"] = values[side + "dport"].astype(np.uint16)
        else:  # ICMP: the echo id, and type << 8 | code (as the regex parser does)
            cols[f"{name}_sport"] = values[side + "icmp"].astype(np.uint16)
            dport = (values[side + "type"] << np.uint64(8)) | values[side + "code"]
            cols[f"{name}_dport"] = dport.astype(np.uint16)
        zero = np.zeros(m, dtype=np.uint64)
        cols[f"{name}_packets"] = values.get(side + "pk", zero)
        cols[f"{name}_bytes"] = values.get(side + "by", zero)
    cols["has_counters"] = np.full(m, "opk" in values)
    cols["mark"] = values["mark"].astype(np.uint32)
    cols["zone"] = values["zone"].astype(np.uint16)
    return ok, cols


def _addresses(b: U8, w: U64, start: I64, end: I64, family: I64) -> tuple[U64, U64, B]:
    """(hi, lo, ok) of the four addresses of each line, (4, m): dotted quads, full-form IPv6.

    The reply tuple mostly repeats the original one's addresses (reply src = orig dst without
    DNAT, reply dst = orig src without SNAT) or the first line's WAN address: those are compared
    as text and parsed once.
    """
    m = start.shape[1]
    # one call for the three comparisons: reply src ~ orig dst, reply dst ~ orig src and
    # reply dst ~ the first line's reply dst
    same = same_text(
        w,
        np.concatenate([start[2], start[3], start[3]]),
        np.concatenate([end[2], end[3], end[3]]),
        np.concatenate([start[1], start[0], np.full(m, start[3, 0])]),
        np.concatenate([end[1], end[0], np.full(m, end[3, 0])]),
    )
    copy_rsrc, copy_rdst, like_first = same[:m], same[m : 2 * m], same[2 * m :]
    like_first &= ~copy_rdst
    like_first[0] = False
    parse = np.ones((4, m), dtype=bool)
    parse[2] = ~copy_rsrc
    parse[3] = ~(copy_rdst | like_first)
    sel = np.flatnonzero(parse.reshape(-1))
    s_sel, e_sel = start.reshape(-1)[sel], end.reshape(-1)[sel]
    hi = np.zeros(4 * m, dtype=np.uint64)
    lo = np.zeros(4 * m, dtype=np.uint64)
    valid = np.ones(4 * m, dtype=bool)
    if (family == 4).all():
        lo[sel], valid[sel] = dotted_quads(w, s_sel, e_sel)
    else:
        fam = family[sel % m]
        for version in (4, 6):
            rows = np.flatnonzero(fam == version)
            if not len(rows):
                continue
            if version == 4:
                lo[sel[rows]], valid[sel[rows]] = dotted_quads(w, s_sel[rows], e_sel[rows])
            else:
                got = full_ipv6(b, s_sel[rows], e_sel[rows])
                hi[sel[rows]], lo[sel[rows]], valid[sel[rows]] = got
    h, q, v = hi.reshape(4, m), lo.reshape(4, m), valid.reshape(4, m)
    # copies in order: the first line's reply dst may itself be a copy of its orig src
    for col in (h, q, v):
        col[2] = np.where(copy_rsrc, col[1], col[2])
        col[3] = np.where(copy_rdst, col[0], col[3])
        col[3] = np.where(like_first, col[3, 0], col[3])
    return h, q, np.asarray(v.all(axis=0))
