"""The vectorized fast path gives exactly what the regex parser gives, on any input.

``parse_conntrack`` sends lines in the kernel's /proc layout through the fast path and everything
else through the regex parser (``_parse_regex``); every test here compares the two on the same
bytes, column by column and stat by stat, and checks that the fast path really took the lines.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficatlas.sources.conntrack_fastpath import fast_lines
from trafficatlas.sources.conntrack_parse import ConntrackTable, _parse_regex, parse_conntrack

from support.conntrack_lines import Entry, proc_line, synthetic_table

FIXTURES = Path(__file__).parent.parent / "fixtures" / "conntrack"


def assert_same(data: bytes) -> ConntrackTable:
    """parse_conntrack(data) equals the regex parser's result; returns it."""
    got = parse_conntrack(data)
    want = _parse_regex(data)
    for name in ConntrackTable.DTYPES:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert got.stats == want.stats
    return got


def fixture_lines(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    return [x for x in data.split(b"\n") if x.strip() and not x.startswith(b"#")]


@pytest.mark.parametrize(
    "name", ["conntrack-samples.txt", "more-samples.txt", "proc-nat-unreplied.txt"]
)
def test_real_lines(name: str) -> None:
    lines = fixture_lines(name)
    assert_same(b"\n".join(lines) + b"\n")
    for line in lines:  # each alone, with and without its newline
        assert_same(line)
        assert_same(line + b"\n")


def test_the_kernels_lines_take_the_fast_path() -> None:
    lines = fixture_lines("proc-nat-unreplied.txt") + fixture_lines("conntrack-samples.txt")[:4]
    fast = fast_lines(b"\n".join(lines))
    assert len(fast.line) == len(lines)  # UDP, TCP, ICMP, IPv6, NAT, [ASSURED], [UNREPLIED]
    # zone= and delta-time= are kernel layouts; GRE, zone-orig=, conntrack and event lines are
    # the regex parser's
    more = fixture_lines("more-samples.txt")
    fast = fast_lines(b"\n".join(more))
    assert fast.line.tolist() == [0, 3]
    assert fast.rejected_line.tolist() == [1, 2, *range(4, len(more))]


def test_a_large_generated_table() -> None:
    data = synthetic_table(3000, seed=7)
    t = assert_same(data)
    assert len(t) == 3000
    assert len(fast_lines(data).line) == 3000


def test_mixed_good_and_bad_lines_keep_their_order_and_line_numbers() -> None:
    good = fixture_lines("proc-nat-unreplied.txt")
    events = fixture_lines("conntrack-samples.txt")[5:]
    data = b"\n".join(
        [good[0], b"", b"garbage", good[1], b"  ", good[2][:90], events[0], good[3], b"\t", good[6]]
    )
    t = assert_same(data)
    assert t.line.tolist() == [0, 2, 5, 6, 8]  # among the non-empty lines ("  " and "\t" count)
    assert (t.stats.parsed, t.stats.truncated, t.stats.malformed, t.stats.blank) == (5, 1, 1, 2)


addresses_v4 = st.integers(0, 2**32 - 1).map(lambda v: str(ipaddress.IPv4Address(v)))
addresses_v6 = st.integers(0, 2**128 - 1).map(lambda v: str(ipaddress.IPv6Address(v)))


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    v6 = draw(st.booleans())
    addr = addresses_v6 if v6 else addresses_v4
    proto = draw(st.sampled_from([6, 17, 132, 47, 58 if v6 else 1]))
    dport = draw(st.integers(0, 65535))
    if proto in (1, 58):
        dport = (draw(st.sampled_from([128] if v6 else [8, 0, 3])) << 8) | draw(st.integers(0, 255))
    src, dst = draw(addr), draw(addr)
    # the reply tuple often repeats the original one's addresses: the fast path shares them
    rsrc = draw(st.sampled_from([dst, draw(addr)]))
    rdst = draw(st.sampled_from([src, draw(addr)]))
    counts = st.integers(0, 2**63 - 1) | st.integers(0, 99999)
    return Entry(
        proto, src, dst, rsrc, rdst, draw(st.integers(0, 65535)), dport,
        draw(counts), draw(counts), draw(counts), draw(counts),
        zone=draw(st.integers(0, 65535)), timeout=draw(st.integers(0, 10**6)),
        state=draw(st.sampled_from(["ESTABLISHED", "SYN_SENT", "TIME_WAIT", "CLOSE"])),
    )  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(entries(), st.booleans()), min_size=1, max_size=12))
def test_generated_tables(rows: list[tuple[Entry, bool]]) -> None:
    data = "".join(proc_line(e, acct=acct) + "\n" for e, acct in rows).encode()
    assert_same(data)
    # GRE has its own layout; "ipv6 10 sctp 132 " is longer than the headers the fast path takes
    kernel_layout = [e for e, _ in rows if e.proto != 47 and (e.family, e.proto) != (6, 132)]
    assert len(fast_lines(data).line) == len(kernel_layout)


# single-byte damage anywhere in a line: the fast path must reject what the regex rejects and
# agree on what it accepts
NOISE = st.sampled_from(list(b" =.:[]\t\n0123456789abcdefxAZ_-\x00\xff"))


def damage(line: bytes, data: st.DataObject) -> bytes:
    pos = data.draw(st.integers(0, len(line) - 1))
    b = bytes([data.draw(NOISE)])
    return data.draw(
        st.sampled_from(
            [
                line[:pos] + b + line[pos + 1 :],  # replaced
                line[:pos] + b + line[pos:],  # inserted
                line[:pos] + line[pos + 1 :],  # deleted
                line[:pos],  # cut
                line[:pos] + line[pos : pos + 1] * 2 + line[pos + 1 :],  # doubled
            ]
        )
    )


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(
        fixture_lines("proc-nat-unreplied.txt") + fixture_lines("conntrack-samples.txt")[:4]
    ),
    st.data(),
)
def test_damaged_lines(line: bytes, data: st.DataObject) -> None:
    assert_same(b"\n".join([line, damage(line, data), line]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries(), min_size=2, max_size=8), st.data())
def test_damaged_generated_tables(rows: list[Entry], data: st.DataObject) -> None:
    lines = [proc_line(e).encode() for e in rows]
    i = data.draw(st.integers(0, len(lines) - 1))
    lines[i] = damage(lines[i], data)
    assert_same(b"\n".join(lines))


def test_values_at_their_limits() -> None:
    base = Entry(17, "10.0.0.2", "192.0.2.1", "192.0.2.1", "198.51.100.1", 1, 2, 3, 4, 5, 6)
    lines = [
        proc_line(replace(base, sport=65535, dport=0, opk=2**63 - 1, rby=10**18)),
        proc_line(replace(base, zone=65535, src="255.255.255.255", dst="0.0.0.0")),
        proc_line(replace(base, proto=1, sport=65535, dport=(255 << 8) | 255)),
        proc_line(base).replace("sport=1 ", "sport=65536 "),  # out of range: malformed
        proc_line(base).replace("zone=0", "zone=65536"),
        proc_line(base).replace("mark=0", "mark=4294967296"),
        proc_line(base).replace("mark=0", "mark=12345678901"),  # the regex skips such a mark
        proc_line(base).replace("packets=3", "packets=" + "9" * 19),
        proc_line(base).replace("packets=3", "packets=" + "9" * 20),
        proc_line(base).replace("10.0.0.2", "10.0.0.256"),
        proc_line(base).replace("10.0.0.2", "10.0.00.2"),
        proc_line(base).replace("10.0.0.2", "010.000.000.002"),
        proc_line(base).replace("10.0.0.2", "10.0.0.2.7"),
        proc_line(base).replace("use=2", "use=" + "1" * 25),
        proc_line(base).replace(" 117 ", " 117  "),
        proc_line(base).replace(" 117 ", " 117 X\tY "),
    ]
    t = assert_same(("\n".join(lines) + "\n").encode())
    assert t.stats.parsed >= 3
