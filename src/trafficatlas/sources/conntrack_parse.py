"""Bulk parser for conntrack table and event lines into NumPy columns.

Reads the formats of ``/proc/net/nf_conntrack``, ``conntrack -L -o extended[,id]`` and
``conntrack -E -o extended[,id][,timestamp]``. Lines in the kernel's own /proc layout go
through a vectorized fast path (:mod:`trafficatlas.sources.conntrack_fastpath`, 4-5x faster);
every other line through one compiled bytes regex over the chunk (``findall``), whose groups go
into a structured array in one call, every column then converted with vectorized NumPy code.
Both give identical results; no Python work per line except for lines that fail to parse.

ICMP and ICMPv6 tuples have no ports: ``*_sport`` holds the echo id and ``*_dport`` holds
``type << 8 | code`` (the NetFlow convention), so the columns still identify the tuple.
Protocols without ports (GRE, "unknown") keep their addresses with ports 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from trafficatlas.sources.conntrack_addr import parse_addresses
from trafficatlas.sources.conntrack_fastpath import fast_lines

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

EVENT_NONE = 0  # a table line (/proc or conntrack -L)
EVENT_NEW = 1
EVENT_UPDATE = 2
EVENT_DESTROY = 3
_EVENTS = {b"": EVENT_NONE, b"NEW": EVENT_NEW, b"UPDATE": EVENT_UPDATE, b"DESTROY": EVENT_DESTROY}

PORT_PROTOCOLS = (6, 17, 33, 132, 136)  # tcp, udp, dccp, sctp, udplite
ICMP_PROTOCOLS = (1, 58)
KNOWN_PROTOCOLS = PORT_PROTOCOLS + ICMP_PROTOCOLS

# -- the line grammar (tokens are separated by single spaces; see module docstring) ------------

_ADDR = rb"([0-9a-fA-F.:]{1,39})"


def _tuple(zone_key: bytes, capture_zone: bool) -> bytes:
    zone = rb"(\d{1,5})" if capture_zone else rb"\d{1,5}"
    return (
        rb" src="
        + _ADDR
        + rb" dst="
        + _ADDR
        # tcp/udp/sctp/dccp: sport dport; icmp(v6): type code id
        + rb"(?: sport=(\d{1,5}) dport=(\d{1,5})| type=(\d{1,3}) code=(\d{1,3}) id=(\d{1,5}))?"
        # other protocols' tuple keys: GRE's srckey=0x0 dstkey=0x0
        + rb"(?: [a-z]+key=[^ \n]*)*"
        + rb"(?: "
        + zone_key
        + rb"="
        + zone
        + rb")?"
        + rb"(?: packets=(\d{1,19}) bytes=(\d{1,19}))?"
    )


_LINE = (
    rb"^(?:"
    rb"(?:\[(\d{1,12}\.\d{1,9})\][ \t]+)?[ \t]*(?:\[(?P<ev>NEW|UPDATE|DESTROY)\][ \t]+)?"
    rb"ipv([46]) +\d+ +[a-z0-9]+ +(\d{1,3})"
    # timeout, TCP state, GRE's "timeout=30, stream_timeout=180", ...: anything before src=
    rb"(?: (?!src=)[^ \n]+)*"
    + _tuple(rb"zone-orig", True)
    + rb"(?: \[UNREPLIED\])?"
    + _tuple(rb"zone-reply", False)
    + rb"(?: \[[A-Z_]+\])*(?: mark=(\d{1,10}))?"
    rb"(?: (?!use=|id=|zone=|packets=)[^ \n]+)*(?: zone=(\d{1,5}))?"
    rb"(?: (?!use=|id=|packets=)[^ \n]+)*"
    # table lines always end their known part with use=N (a cut line lacks it); events have none
    rb"(?(ev)(?: use=\d+)?| use=\d+)(?: id=(\d{1,10}))?(?: [^ \n]+)* ?"
    rb"|([^\n]+))$"  # anything else: captured to be counted
)
LINE_RE = re.compile(_LINE, re.MULTILINE)
_HEADER_RE = re.compile(
    rb"^(?:\[[\d.]+\][ \t]+)?[ \t]*(?:\[(NEW|UPDATE|DESTROY)\][ \t]+)?ipv[46] +\d+ +[a-z0-9]+ +\d+ "
)

# Structured dtype of one findall row: names and byte widths of the regex groups, in order.
_GROUPS: tuple[tuple[str, int], ...] = (
    ("ts", 22),
    ("ev", 7),
    ("fam", 1),
    ("l4", 3),
    ("osrc", 39),
    ("odst", 39),
    ("osport", 5),
    ("odport", 5),
    ("otype", 3),
    ("ocode", 3),
    ("oicmp", 5),
    ("ozone", 5),
    ("opk", 19),
    ("oby", 19),
    ("rsrc", 39),
    ("rdst", 39),
    ("rsport", 5),
    ("rdport", 5),
    ("rtype", 3),
    ("rcode", 3),
    ("ricmp", 5),
    ("rpk", 19),
    ("rby", 19),
    ("mark", 10),
    ("zone", 5),
    ("id", 10),
    ("bad", 1),  # a line that did not parse (its text is read from the findall row)
)
_ROW_DTYPE = np.dtype([(name, f"S{width}") for name, width in _GROUPS])
_NUMERIC = tuple(
    name
    for name, _ in _GROUPS
    if name not in ("ts", "ev", "fam", "osrc", "odst", "rsrc", "rdst", "bad")
)


@dataclass(slots=True)
class ParseStats:
    """Counts of one parse: every non-blank line is parsed or counted under one error kind."""

    lines: int = 0
    parsed: int = 0
    malformed: int = 0
    truncated: int = 0
    bad_address: int = 0
    unknown_proto: int = 0  # parsed and kept (addresses, no ports); not an error
    blank: int = 0  # whitespace-only lines (ignored, but they take a ``line`` index)

    def add(self, other: ParseStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def errors(self) -> dict[str, int]:
        """Lines dropped, by kind."""
        return {
            "malformed": self.malformed,
            "truncated": self.truncated,
            "bad_address": self.bad_address,
        }


@dataclass(slots=True)
class ConntrackTable:
    """Parsed conntrack entries (or events) as columns; row i is one line."""

    family: U8  # 4 or 6
    proto: U8
    orig_src_hi: U64
    orig_src_lo: U64
    orig_dst_hi: U64
    orig_dst_lo: U64
    orig_sport: U16
    orig_dport: U16
    reply_src_hi: U64
    reply_src_lo: U64
    reply_dst_hi: U64
    reply_dst_lo: U64
    reply_sport: U16
    reply_dport: U16
    orig_packets: U64
    orig_bytes: U64
    reply_packets: U64
    reply_bytes: U64
    has_counters: B  # False when nf_conntrack_acct=0 or for NEW/UPDATE events
    ct_id: U32
    has_id: B  # /proc never shows the id; conntrack -o id does
    zone: U16
    mark: U32
    event: U8  # EVENT_*
    ts: F64  # event timestamp (conntrack -E -o timestamp), NaN when absent
    line: npt.NDArray[np.int64]  # index of the source line among the input's non-empty lines
    stats: ParseStats = field(default_factory=ParseStats)

    DTYPES: ClassVar[dict[str, Any]] = {
        "family": np.uint8,
        "proto": np.uint8,
        "orig_src_hi": np.uint64,
        "orig_src_lo": np.uint64,
        "orig_dst_hi": np.uint64,
        "orig_dst_lo": np.uint64,
        "orig_sport": np.uint16,
        "orig_dport": np.uint16,
        "reply_src_hi": np.uint64,
        "reply_src_lo": np.uint64,
        "reply_dst_hi": np.uint64,
        "reply_dst_lo": np.uint64,
        "reply_sport": np.uint16,
        "reply_dport": np.uint16,
        "orig_packets": np.uint64,
        "orig_bytes": np.uint64,
        "reply_packets": np.uint64,
        "reply_bytes": np.uint64,
        "has_counters": np.bool_,
        "ct_id": np.uint32,
        "has_id": np.bool_,
        "zone": np.uint16,
        "mark": np.uint32,
        "event": np.uint8,
        "ts": np.float64,
        "line": np.int64,
    }

    def __len__(self) -> int:
        return int(self.family.shape[0])

    @classmethod
    def empty(cls, n: int = 0) -> ConntrackTable:
        """A table of ``n`` zeroed rows."""
        cols: dict[str, Any] = {k: np.zeros(n, dtype=dt) for k, dt in cls.DTYPES.items()}
        return cls(**cols)

    def take(self, index: npt.NDArray[Any]) -> ConntrackTable:
        """Rows selected by a mask or an index array (stats are not carried over).

        When every row is selected in order (the usual case for a table snapshot), the result
        shares this table's arrays instead of copying them.
        """
        n = len(self)
        if len(index) == n and (
            bool(index.all()) if index.dtype == np.bool_ else np.array_equal(index, np.arange(n))
        ):
            return ConntrackTable(**{k: getattr(self, k) for k in self.DTYPES})
        return ConntrackTable(**{k: getattr(self, k)[index] for k in self.DTYPES})

    @classmethod
    def concat(cls, tables: list[ConntrackTable]) -> ConntrackTable:
        """Rows of all tables in order, with their stats added up."""
        stats = ParseStats()
        for t in tables:
            stats.add(t.stats)
        if not tables:
            return cls.empty(0)
        cols = {k: np.concatenate([getattr(t, k) for t in tables]) for k in cls.DTYPES}
        # line indices continue from one table to the next
        sizes = [t.stats.lines + t.stats.blank for t in tables]
        offsets = np.repeat(np.cumsum([0, *sizes[:-1]]), [len(t) for t in tables])
        cols["line"] = cols["line"] + offsets.astype(np.int64)
        return cls(**cols, stats=stats)


def parse_conntrack(data: bytes) -> ConntrackTable:
    """Parse whole lines of conntrack output; bad lines are counted in ``stats``, never raised.

    ``data`` should hold complete lines (a last line without its newline is parsed as is).
    Lines in the kernel's /proc layout take a vectorized fast path
    (:mod:`trafficatlas.sources.conntrack_fastpath`); every other line goes through the regex.
    """
    if not data:
        return ConntrackTable.empty(0)
    fast = fast_lines(data)
    m = len(fast.line)
    if not m:
        return _parse_regex(data)
    table = ConntrackTable(
        **fast.columns,
        ct_id=np.zeros(m, dtype=np.uint32),
        has_id=np.zeros(m, dtype=bool),
        event=np.zeros(m, dtype=np.uint8),
        ts=np.full(m, np.nan),
        line=fast.line,
        stats=ParseStats(lines=m, parsed=m),
    )
    if not len(fast.rejected_line):
        return table
    spans = zip(fast.rejected_start.tolist(), fast.rejected_end.tolist(), strict=True)
    slow = _parse_regex(b"\n".join(data[s:e] for s, e in spans))
    slow.line = fast.rejected_line[slow.line]
    stats = table.stats
    stats.add(slow.stats)
    line = np.concatenate([table.line, slow.line])
    order = np.argsort(line, kind="stable")
    cols = {k: np.concatenate([getattr(table, k), getattr(slow, k)])[order] for k in table.DTYPES}
    return ConntrackTable(**cols, stats=stats)


def _parse_regex(data: bytes) -> ConntrackTable:
    """The general parser: one compiled regex over the whole input."""
    stats = ParseStats()
    rows = LINE_RE.findall(data) if data else []
    if not rows:
        return ConntrackTable.empty(0)
    arr = np.array(rows, dtype=_ROW_DTYPE)
    stats.lines = len(arr)
    line = np.arange(len(arr), dtype=np.int64)
    bad = arr["fam"] == b""  # every parsed line has its family; bad lines only the last group
    if bad.any():
        for i in np.flatnonzero(bad):
            _count_bad_line(rows[i][-1], stats)
        arr = arr[~bad]
        line = line[~bad]
    table, ok = _columns(arr, line, stats)
    if not ok.all():
        table = table.take(ok)
    stats.parsed = len(table)
    table.stats = stats
    return table


def _count_bad_line(line: bytes, stats: ParseStats) -> None:
    """Tell a cut-off line (valid start, missing its end) from any other bad line."""
    if not line.strip():
        stats.lines -= 1  # whitespace only: not a line at all
        stats.blank += 1
        return
    head = _HEADER_RE.match(line)
    if head is not None:
        is_event = head.group(1) is not None
        text = line.rstrip()
        if text.count(b" src=") < 2 or (not is_event and b" use=" not in text):
            stats.truncated += 1
            return
    stats.malformed += 1


_ADDRESSES = ("osrc", "odst", "rsrc", "rdst")


def _uint(col: npt.NDArray[Any]) -> U64:
    """Digit strings (already checked by the regex) to unsigned integers; empty → 0."""
    n = len(col)
    width = col.dtype.itemsize
    mat = np.ascontiguousarray(col).view(np.uint8).reshape(n, width)
    acc = np.zeros(n, dtype=np.uint64)
    ten = np.uint64(10)
    for j in range(width):  # Horner over the columns; NUL padding ends a value
        c = mat[:, j].astype(np.uint64)
        acc = np.where(c != 0, acc * ten + (c - np.uint64(48)), acc)
    return acc


def _columns(
    arr: npt.NDArray[Any], line: npt.NDArray[np.int64], stats: ParseStats
) -> tuple[ConntrackTable, B]:
    n = len(arr)
    ok = np.ones(n, dtype=bool)
    num = {name: _uint(arr[name]) for name in _NUMERIC}
    family = np.where(arr["fam"] == b"6", 6, 4).astype(np.uint8)
    l4 = num["l4"]
    proto_ok = l4 <= 255
    proto = np.where(proto_ok, l4, 0).astype(np.uint8)

    text = np.stack([arr[name] for name in _ADDRESSES], axis=1)  # (n, 4) of S39
    text = text.view(np.uint8).reshape(n * len(_ADDRESSES), 39)
    hi, lo, good = parse_addresses(text, np.repeat(family, len(_ADDRESSES)))
    hi = hi.reshape(n, len(_ADDRESSES))
    lo = lo.reshape(n, len(_ADDRESSES))
    addrs = {name: (hi[:, i], lo[:, i]) for i, name in enumerate(_ADDRESSES)}
    addr_ok = good.reshape(n, len(_ADDRESSES)).all(axis=1)

    is_port = np.isin(proto, PORT_PROTOCOLS)
    is_icmp = np.isin(proto, ICMP_PROTOCOLS)
    ports: dict[str, U16] = {}
    port_ok = np.ones(n, dtype=bool)
    for side in ("o", "r"):
        sport = num[side + "sport"]
        dport = num[side + "dport"]
        icmp_type = num[side + "type"]
        icmp_code = num[side + "code"]
        icmp_id = num[side + "icmp"]
        have_ports = arr[side + "sport"] != b""
        have_icmp = arr[side + "icmp"] != b""
        # a port protocol needs sport/dport, ICMP needs type/code/id, others have neither
        port_ok &= np.where(is_port, have_ports, ~have_ports)
        port_ok &= np.where(
            is_icmp, have_icmp & (icmp_type <= 255) & (icmp_code <= 255), ~have_icmp
        )
        port_ok &= (sport <= 0xFFFF) & (dport <= 0xFFFF) & (icmp_id <= 0xFFFF)
        sp = np.where(is_port, sport, np.where(is_icmp, icmp_id, 0))
        dp = np.where(is_port, dport, np.where(is_icmp, (icmp_type << np.uint64(8)) | icmp_code, 0))
        ports[side + "sport"] = (sp & np.uint64(0xFFFF)).astype(np.uint16)
        ports[side + "dport"] = (dp & np.uint64(0xFFFF)).astype(np.uint16)

    has_o = arr["opk"] != b""
    has_r = arr["rpk"] != b""
    counters_ok = has_o == has_r  # one direction counted and not the other: a cut line
    ct_id = num["id"]
    mark = num["mark"]
    zone_default = num["zone"]
    zone_orig = num["ozone"]
    zone = np.where(arr["zone"] != b"", zone_default, zone_orig)
    num_ok = (ct_id <= 0xFFFF_FFFF) & (mark <= 0xFFFF_FFFF) & (zone <= 0xFFFF)
    event = np.zeros(n, dtype=np.uint8)
    for label, code in _EVENTS.items():
        if code:
            event[arr["ev"] == label] = code
    ts = np.full(n, np.nan)
    has_ts = arr["ts"] != b""
    if has_ts.any():
        ts[has_ts] = arr["ts"][has_ts].astype(np.float64)

    unknown = ~np.isin(proto, KNOWN_PROTOCOLS)
    malformed = ~(proto_ok & port_ok & counters_ok & num_ok)
    ok &= ~malformed
    stats.malformed += int(malformed.sum())
    bad_addr = ok & ~addr_ok
    stats.bad_address += int(bad_addr.sum())
    ok &= addr_ok
    stats.unknown_proto += int((ok & unknown).sum())

    table = ConntrackTable(
        family=family,
        proto=proto,
        orig_src_hi=addrs["osrc"][0],
        orig_src_lo=addrs["osrc"][1],
        orig_dst_hi=addrs["odst"][0],
        orig_dst_lo=addrs["odst"][1],
        orig_sport=ports["osport"],
        orig_dport=ports["odport"],
        reply_src_hi=addrs["rsrc"][0],
        reply_src_lo=addrs["rsrc"][1],
        reply_dst_hi=addrs["rdst"][0],
        reply_dst_lo=addrs["rdst"][1],
        reply_sport=ports["rsport"],
        reply_dport=ports["rdport"],
        orig_packets=num["opk"],
        orig_bytes=num["oby"],
        reply_packets=num["rpk"],
        reply_bytes=num["rby"],
        has_counters=has_o & has_r,
        ct_id=(ct_id & np.uint64(0xFFFF_FFFF)).astype(np.uint32),
        has_id=arr["id"] != b"",
        zone=(zone & np.uint64(0xFFFF)).astype(np.uint16),
        mark=(mark & np.uint64(0xFFFF_FFFF)).astype(np.uint32),
        event=event,
        ts=ts,
        line=line,
    )
    return table, ok
