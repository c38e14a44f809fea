"""The conntrack line parser over real lines, generated lines and bad input."""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trafficatlas.net import format_ip
from trafficatlas.sources.conntrack import (
    EVENT_DESTROY,
    EVENT_NEW,
    EVENT_NONE,
    EVENT_UPDATE,
    ConntrackTable,
    parse_conntrack,
)

from support.conntrack_lines import Entry, cli_line, event_line, proc_line

FIXTURES = Path(__file__).parent.parent / "fixtures" / "conntrack"


def real_lines(name: str) -> list[bytes]:
    """Non-comment lines of a fixture file of real conntrack output."""
    data = (FIXTURES / name).read_bytes()
    return [line for line in data.split(b"\n") if line.strip() and not line.startswith(b"#")]


def ip(t: ConntrackTable, i: int, column: str) -> str:
    return format_ip(
        int(t.family[i]), int(getattr(t, column + "_hi")[i]), int(getattr(t, column + "_lo")[i])
    )


def row(t: ConntrackTable, i: int) -> dict[str, object]:
    out: dict[str, object] = {k: getattr(t, k)[i].item() for k in ConntrackTable.DTYPES}
    for col in ("orig_src", "orig_dst", "reply_src", "reply_dst"):
        out[col] = ip(t, i, col)
        del out[col + "_hi"], out[col + "_lo"]
    return out


def test_sample_file_every_line_parses() -> None:
    lines = real_lines("conntrack-samples.txt")
    t = parse_conntrack(b"\n".join(lines) + b"\n")
    assert t.stats.lines == len(lines) == 9
    assert t.stats.parsed == 9
    assert t.stats.errors() == {"malformed": 0, "truncated": 0, "bad_address": 0}
    assert list(t.event) == [EVENT_NONE] * 5 + [EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY] * 1 + [
        EVENT_DESTROY
    ]


def test_sample_proc_tcp_line_all_fields() -> None:
    t = parse_conntrack(real_lines("conntrack-samples.txt")[0])
    r = row(t, 0)
    ts = r.pop("ts")
    assert isinstance(ts, float)
    assert math.isnan(ts)
    assert r == {
        "family": 4,
        "proto": 6,
        "orig_src": "10.77.1.2",
        "orig_dst": "198.51.100.10",
        "orig_sport": 57672,
        "orig_dport": 8080,
        "reply_src": "198.51.100.10",
        "reply_dst": "198.51.100.1",
        "reply_sport": 8080,
        "reply_dport": 57672,
        "orig_packets": 39,
        "orig_bytes": 2128,
        "reply_packets": 39,
        "reply_bytes": 1002241,
        "has_counters": True,
        "ct_id": 0,
        "has_id": False,
        "zone": 0,
        "mark": 0,
        "event": EVENT_NONE,
        "line": 0,
    }


def test_sample_icmp_unreplied_and_cli_lines() -> None:
    lines = real_lines("conntrack-samples.txt")
    t = parse_conntrack(b"\n".join(lines[1:5]))
    # udp 59413 -> 5201, reply counters 1/32
    assert (t.proto[0], t.orig_sport[0], t.orig_dport[0]) == (17, 59413, 5201)
    assert (t.reply_packets[0], t.reply_bytes[0]) == (1, 32)
    # icmp: sport holds the echo id, dport type 8 code 0; the reply is type 0
    assert (t.proto[1], t.orig_sport[1], t.orig_dport[1]) == (1, 7621, 8 << 8)
    assert (t.reply_sport[1], t.reply_dport[1]) == (7621, 0)
    assert (t.orig_packets[1], t.orig_bytes[1], t.reply_packets[1], t.reply_bytes[1]) == (
        2, 168, 2, 168,
    )  # fmt: skip
    # [UNREPLIED] with zero reply counters
    assert ip(t, 2, "orig_dst") == "203.0.113.23"
    assert (t.orig_packets[2], t.orig_bytes[2], t.reply_packets[2], t.reply_bytes[2]) == (
        1, 29, 0, 0,
    )  # fmt: skip
    assert t.has_counters[2]
    # conntrack -L -o extended: CLOSE state, no zone field
    assert ip(t, 3, "orig_src") == "10.77.2.2"
    assert (t.orig_bytes[3], t.reply_bytes[3], t.zone[3]) == (5248281, 2400, 0)


def test_sample_event_lines() -> None:
    lines = real_lines("conntrack-samples.txt")[5:]
    t = parse_conntrack(b"\n".join(lines))
    assert list(t.event) == [EVENT_NEW, EVENT_UPDATE, EVENT_DESTROY, EVENT_DESTROY]
    assert t.ts[0] == pytest.approx(1795305430.611149)
    assert not t.has_counters[0]  # NEW/UPDATE carry no counters
    assert not t.has_counters[1]
    assert ip(t, 0, "reply_dst") == "198.51.100.1"
    assert t.has_counters[2]
    assert (t.orig_packets[2], t.orig_bytes[2], t.reply_packets[2], t.reply_bytes[2]) == (
        39, 2128, 39, 1002241,
    )  # fmt: skip
    assert (t.proto[3], t.orig_bytes[3], t.reply_bytes[3]) == (17, 526368, 32)
    assert t.ts[3] == pytest.approx(1795305436.636404)


def test_more_real_lines() -> None:
    lines = real_lines("more-samples.txt")
    t = parse_conntrack(b"\n".join(lines))
    assert t.stats.parsed == len(lines)
    assert t.stats.errors() == {"malformed": 0, "truncated": 0, "bad_address": 0}
    # /proc IPv6 in the kernel's full form
    assert (t.family[0], ip(t, 0, "orig_src"), ip(t, 0, "orig_dst")) == (
        6, "2001:db8:99::2", "2001:db8:99::1",
    )  # fmt: skip
    assert (t.orig_sport[0], t.orig_dport[0], t.orig_bytes[0]) == (53702, 5555, 58)
    # GRE: protocol info before the tuple, keys instead of ports
    assert (t.proto[1], t.orig_sport[1], t.orig_dport[1], t.orig_bytes[1]) == (47, 0, 0, 40)
    assert t.stats.unknown_proto == 1
    # zone-orig and zone
    assert t.zone[2] == 9
    assert t.zone[3] == 7
    # conntrack -L -o extended,id: compressed IPv6, ICMPv6 with the conntrack id after use=
    assert (t.proto[4], ip(t, 4, "reply_src"), t.orig_dport[4], t.reply_dport[4]) == (
        58, "2001:db8:99::1", 128 << 8, 129 << 8,
    )  # fmt: skip
    assert (t.has_id[4], t.ct_id[4], t.orig_sport[4]) == (True, 2857385760, 6487)
    # events with ids, [USERSPACE] portid=..., and an expired entry without its timeout
    assert (t.event[5], t.ct_id[5], t.has_counters[5]) == (EVENT_NEW, 418525464, False)
    assert (t.event[6], t.ct_id[6], t.orig_bytes[6]) == (EVENT_DESTROY, 418525464, 29)
    assert (t.event[7], t.has_counters[7], t.orig_bytes[7]) == (EVENT_DESTROY, True, 38)


def test_bad_lines_are_counted_and_good_lines_kept() -> None:
    good = real_lines("conntrack-samples.txt")[0]
    cut_tuple = good[:170]  # the reply tuple is cut short
    cut_end = good[: good.index(b" [ASSURED]")]  # reply counters present, use= missing
    unknown = (
        b"ipv4     2 unknown  99 598 src=10.99.0.2 dst=10.99.0.1 packets=1 bytes=40 "
        b"src=10.99.0.1 dst=10.99.0.2 packets=0 bytes=0 mark=0 zone=0 use=2"
    )
    bad_octet = good.replace(b"src=10.77.1.2", b"src=10.77.1.256")
    bad_v6 = good.replace(b"ipv4     2", b"ipv6     10")
    tcp_without_ports = unknown.replace(b"unknown  99", b"tcp      6")
    one_sided = good.replace(b" packets=39 bytes=1002241", b"")
    data = b"\n".join(
        [
            good, b"garbage here", cut_tuple, b"", b"   ", cut_end, unknown, bad_octet, bad_v6,
            tcp_without_ports, one_sided, b"\x00\xff\xfe", good,
        ]
    )  # fmt: skip
    t = parse_conntrack(data)
    s = t.stats
    assert (s.parsed, s.truncated, s.malformed, s.bad_address, s.unknown_proto) == (3, 2, 4, 2, 1)
    assert s.lines == 11  # the empty and whitespace-only lines are not lines
    assert s.lines == s.parsed + s.truncated + s.malformed + s.bad_address
    assert list(t.proto) == [6, 99, 6]
    assert ip(t, 1, "orig_src") == "10.99.0.2"
    assert (t.orig_sport[1], t.orig_dport[1], t.orig_bytes[1]) == (0, 0, 40)
    assert list(t.line) == [0, 5, 11]  # index among non-empty lines ("   " counts)


def test_acct_off_lines_have_no_counters() -> None:
    e = Entry(6, "10.0.0.2", "192.0.2.1", "192.0.2.1", "198.51.100.1", 4000, 443, 5, 500, 4, 400)
    t = parse_conntrack(proc_line(e, acct=False).encode())
    assert t.stats.parsed == 1
    assert not t.has_counters[0]
    assert t.orig_bytes[0] == 0


def test_empty_input() -> None:
    assert len(parse_conntrack(b"")) == 0
    assert len(parse_conntrack(b"\n\n")) == 0


def test_chunks_concat_like_whole() -> None:
    lines = [*real_lines("conntrack-samples.txt"), b"nonsense", *real_lines("more-samples.txt")]
    whole = parse_conntrack(b"\n".join(lines))
    parts = [parse_conntrack(b"\n".join(lines[:4])), parse_conntrack(b"\n".join(lines[4:]))]
    joined = ConntrackTable.concat(parts)
    for name in ConntrackTable.DTYPES:
        np.testing.assert_array_equal(getattr(joined, name), getattr(whole, name))
    assert joined.stats == whole.stats


addresses_v4 = st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
addresses_v6 = st.integers(0, 2**128 - 1).map(lambda v: str(ipaddress.IPv6Address(v)))
counts = st.integers(0, 2**63 - 1)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    v6 = draw(st.booleans())
    addr = addresses_v6 if v6 else addresses_v4
    proto = draw(st.sampled_from([6, 17, 132, 47, 58 if v6 else 1]))
    dport = draw(st.integers(0, 65535))
    if proto in (1, 58):
        dport = (draw(st.sampled_from([8, 128] if v6 else [8, 0, 3])) << 8) | draw(
            st.integers(0, 255)
        )
    return Entry(
        proto, draw(addr), draw(addr), draw(addr), draw(addr),
        draw(st.integers(0, 65535)), dport, draw(counts), draw(counts), draw(counts),
        draw(counts), zone=draw(st.integers(0, 65535)), ct_id=draw(st.integers(0, 2**32 - 1)),
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(entries(), st.sampled_from(["proc", "cli", "event"]))
def test_generated_lines_round_trip(e: Entry, form: str) -> None:
    text = {"proc": proc_line, "cli": cli_line, "event": event_line}[form](e)
    t = parse_conntrack(text.encode())
    assert t.stats.parsed == 1, text
    r = row(t, 0)
    assert (r["family"], r["proto"]) == (e.family, e.proto)
    assert [r["orig_src"], r["orig_dst"], r["reply_src"], r["reply_dst"]] == [
        str(ipaddress.ip_address(a)) for a in (e.src, e.dst, e.rsrc, e.rdst)
    ]
    assert (r["orig_packets"], r["orig_bytes"], r["reply_packets"], r["reply_bytes"]) == (
        e.opk, e.oby, e.rpk, e.rby,
    )  # fmt: skip
    if e.proto == 47:
        assert (r["orig_sport"], r["orig_dport"]) == (0, 0)
    else:
        assert (r["orig_sport"], r["orig_dport"]) == (e.sport, e.dport)
    if form != "event":
        assert r["zone"] == e.zone
    assert r["has_id"] == (form != "proc")
    if form != "proc":
        assert r["ct_id"] == e.ct_id


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_random_bytes_never_raise(chunks: list[bytes]) -> None:
    data = b"\n".join(chunks)
    t = parse_conntrack(data)
    s = t.stats
    assert s.parsed == len(t)
    assert s.lines == s.parsed + s.truncated + s.malformed + s.bad_address
