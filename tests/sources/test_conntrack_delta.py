"""Delta accounting over successive synthetic snapshots and DESTROY events."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trafficatlas.net import format_ip
from trafficatlas.sources.conntrack import (
    ConntrackAccounting,
    ConntrackFlows,
    ConntrackTable,
    parse_conntrack,
)

from support.conntrack_lines import Entry, event_line, proc_line

WAN = "198.51.100.1"
A = Entry(6, "10.0.0.2", "192.0.2.10", "192.0.2.10", WAN, 40000, 443, 10, 1000, 8, 8000)
B = Entry(17, "10.0.0.3", "192.0.2.20", "192.0.2.20", WAN, 40001, 53, 2, 120, 2, 300)
PING = Entry(1, "10.0.0.2", "192.0.2.10", "192.0.2.10", WAN, 77, 8 << 8, 3, 252, 3, 252)


def snap(*entries: Entry, acct: bool = True) -> ConntrackTable:
    return parse_conntrack("\n".join(proc_line(e, acct) for e in entries).encode())


def events(*entries: Entry) -> ConntrackTable:
    return parse_conntrack("\n".join(event_line(e) for e in entries).encode())


def poll(
    acc: ConntrackAccounting,
    at: float,
    *entries: Entry,
    destroyed: tuple[Entry, ...] = (),
    arrived: tuple[float, ...] = (),
) -> ConntrackFlows:
    """One cycle whose read starts at ``at``; ``destroyed`` arrived at ``arrived`` times."""
    ev = events(*destroyed) if destroyed else None
    return acc.cycle(
        snap(*entries),
        read_start=at,
        now_mono=at + 0.5,
        now_wall=1_000_000 + at,
        events=ev,
        arrivals=np.array(arrived, dtype=np.float64) if destroyed else None,
    )


def rows(out: ConntrackFlows) -> Counter[tuple[str, str, bool, str]]:
    """(src, dst, reply, "packets/bytes/flows") per row."""
    f = out.flows
    res: Counter[tuple[str, str, bool, str]] = Counter()
    for i in range(len(f)):
        src = format_ip(int(f.ip_version[i]), int(f.src_hi[i]), int(f.src_lo[i]))
        dst = format_ip(int(f.ip_version[i]), int(f.dst_hi[i]), int(f.dst_lo[i]))
        res[(src, dst, bool(out.nat.reply[i]), f"{f.packets[i]}/{f.bytes[i]}/{f.flows[i]}")] += 1
    return res


def total_bytes(out: ConntrackFlows) -> int:
    return out.flows.totals()["bytes"]


def test_first_poll_is_a_baseline() -> None:
    acc = ConntrackAccounting()
    out = poll(acc, 0, A, B)
    assert len(out) == 0
    assert acc.metrics.baseline == 2
    assert acc.baselined
    assert len(acc) == 2


def test_growth_gives_both_directions_with_nat_view() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0, A)
    out = poll(acc, 10, A.grown(opk=5, oby=500, rpk=7, rby=7000))
    assert rows(out) == Counter(
        {
            ("10.0.0.2", "192.0.2.10", False, "5/500/0"): 1,
            ("192.0.2.10", WAN, True, "7/7000/0"): 1,
        }
    )
    f, nat = out.flows, out.nat
    o = int(np.flatnonzero(~nat.reply)[0])
    r = int(np.flatnonzero(nat.reply)[0])
    assert format_ip(4, 0, int(nat.xsrc_lo[o])) == WAN  # the client leaves as the WAN address
    assert format_ip(4, 0, int(nat.xdst_lo[r])) == "10.0.0.2"  # replies go to the client
    assert (f.sport[o], f.dport[o], f.sport[r], f.dport[r]) == (40000, 443, 443, 40000)
    assert f.ts[o] == 1_000_010
    assert f.ts_start[o] == 1_000_000
    assert acc.metrics.deltas == 1
    # nothing changed: nothing emitted
    assert len(poll(acc, 20, A.grown(opk=5, oby=500, rpk=7, rby=7000))) == 0


def test_new_connection_after_baseline_counts_from_zero() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0, A)
    out = poll(acc, 10, A, B, PING)
    assert rows(out) == Counter(
        {
            ("10.0.0.3", "192.0.2.20", False, "2/120/1"): 1,
            ("192.0.2.20", WAN, True, "2/300/1"): 1,
            ("10.0.0.2", "192.0.2.10", False, "3/252/1"): 1,
            ("192.0.2.10", WAN, True, "3/252/1"): 1,
        }
    )
    icmp = np.flatnonzero(out.flows.proto == 1)
    assert list(out.flows.sport[icmp]) == [0, 0]  # the echo id is not a port
    assert sorted(out.flows.dport[icmp]) == [0, 8 << 8]  # type/code: echo reply, echo request


def test_counter_decrease_is_a_new_connection() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0, A)
    restarted = Entry(6, A.src, A.dst, A.rsrc, A.rdst, A.sport, A.dport, 2, 120, 1, 60)
    out = poll(acc, 10, restarted)
    assert rows(out) == Counter(
        {
            ("10.0.0.2", "192.0.2.10", False, "2/120/1"): 1,
            ("192.0.2.10", WAN, True, "1/60/1"): 1,
        }
    )
    assert acc.metrics.resets == 1


def test_changed_conntrack_id_is_a_new_connection() -> None:
    acc = ConntrackAccounting()
    first = Entry(17, "10.0.0.3", "192.0.2.20", "192.0.2.20", WAN, 5, 53, 1, 100, ct_id=11)
    table = parse_conntrack(
        b"ipv4     2 udp      17 29 src=10.0.0.3 dst=192.0.2.20 sport=5 dport=53 packets=1 "
        b"bytes=100 [UNREPLIED] src=192.0.2.20 dst=198.51.100.1 sport=53 dport=5 packets=0 "
        b"bytes=0 mark=0 use=1 id=11"
    )
    acc.cycle(table, read_start=0, now_mono=0, now_wall=0)
    again = parse_conntrack(
        b"ipv4     2 udp      17 29 src=10.0.0.3 dst=192.0.2.20 sport=5 dport=53 packets=3 "
        b"bytes=300 [UNREPLIED] src=192.0.2.20 dst=198.51.100.1 sport=53 dport=5 packets=0 "
        b"bytes=0 mark=0 use=1 id=12"
    )
    out = acc.cycle(again, read_start=1, now_mono=1, now_wall=1)
    assert out.flows.totals() == {"flows": 1, "packets": 3, "bytes": 300}
    assert acc.metrics.resets == 1
    assert first.ct_id == 11


def test_destroy_between_polls_counts_final_delta_once() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0, A)
    final = A.grown(opk=4, oby=400, rpk=6, rby=6000)
    # the DESTROY arrived while the read of poll 2 ran: that read may still list the entry
    out = poll(acc, 10, A.grown(opk=1, oby=100), destroyed=(final,), arrived=(10.2,))
    assert rows(out) == Counter(
        {
            ("10.0.0.2", "192.0.2.10", False, "4/400/0"): 1,
            ("192.0.2.10", WAN, True, "6/6000/0"): 1,
        }
    )
    assert acc.metrics.destroyed == 1
    assert acc.metrics.stale_ignored == 1
    assert len(acc) == 0
    # the entry is gone; nothing more is ever counted for it
    assert len(poll(acc, 20)) == 0
    assert acc.metrics.vanished == 0


def test_connection_living_between_polls_is_counted_in_full() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0)
    out = poll(acc, 10, destroyed=(B,), arrived=(5.0,))
    assert out.flows.totals() == {"flows": 2, "packets": 4, "bytes": 420}
    assert acc.metrics.destroyed_unseen == 1
    assert len(poll(acc, 20)) == 0


def test_tuple_reused_after_destroy_is_a_new_connection() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0, B)
    # B ended before poll 2's read began; a new connection with the same tuple is listed
    reused = Entry(17, B.src, B.dst, B.rsrc, B.rdst, B.sport, B.dport, 1, 50)
    out = poll(acc, 10, reused, destroyed=(B.grown(opk=1, oby=60),), arrived=(9.0,))
    assert out.flows.totals() == {"flows": 1, "packets": 2, "bytes": 110}  # 60 final + 50 new
    assert acc.metrics.stale_ignored == 0
    assert len(acc) == 1


def test_two_destroys_of_one_tuple_in_one_interval() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0, B)
    second = Entry(17, B.src, B.dst, B.rsrc, B.rdst, B.sport, B.dport, 1, 10)
    out = poll(acc, 10, destroyed=(second, B.grown(opk=1, oby=5)), arrived=(8.0, 4.0))
    # in arrival order: B's final delta (5 bytes), then the reused tuple in full (10 bytes)
    assert out.flows.totals()["bytes"] == 15
    assert acc.metrics.destroyed == 1
    assert acc.metrics.destroyed_unseen == 1


def test_vanished_entry_is_kept_one_poll_then_dropped() -> None:
    acc = ConntrackAccounting(grace_polls=1)
    poll(acc, 0, A, B)
    poll(acc, 10, A)  # B unlisted: kept for one more poll
    assert len(acc) == 2
    poll(acc, 20, A)
    assert acc.metrics.vanished == 1
    assert len(acc) == 1
    # a later listing of B is a new connection counted in full
    out = poll(acc, 30, A, B)
    assert out.flows.totals()["bytes"] == 420


def test_listing_race_within_grace_keeps_counting_deltas() -> None:
    acc = ConntrackAccounting(grace_polls=1)
    poll(acc, 0, A)
    poll(acc, 10)  # A missing from one listing
    out = poll(acc, 20, A.grown(oby=10, opk=1))
    assert out.flows.totals() == {"flows": 0, "packets": 1, "bytes": 10}
    assert acc.metrics.vanished == 0


def test_late_destroy_finds_an_unlisted_entry() -> None:
    acc = ConntrackAccounting(grace_polls=1)
    poll(acc, 0, A)
    poll(acc, 10)  # A gone from the table, its DESTROY still in the pipe
    out = poll(acc, 20, destroyed=(A.grown(oby=30, opk=1),), arrived=(12.0,))
    assert out.flows.totals() == {"flows": 0, "packets": 1, "bytes": 30}
    assert acc.metrics.destroyed == 1
    assert acc.metrics.vanished == 0


def test_destroys_before_the_baseline_are_not_counted() -> None:
    acc = ConntrackAccounting()
    out = poll(acc, 0, A, destroyed=(B, A.grown(oby=5)), arrived=(0.1, 0.2))
    assert len(out) == 0
    assert acc.metrics.events_before_baseline == 2
    assert acc.metrics.baseline == 0  # A's listing may be stale: it is not the baseline either
    assert len(acc) == 0


def test_duplicate_listing_counted_once() -> None:
    acc = ConntrackAccounting()
    poll(acc, 0)
    out = poll(acc, 10, A, A)
    assert out.flows.totals()["bytes"] == 9000
    assert acc.metrics.duplicates == 1


def test_without_accounting_new_connections_are_flows_without_bytes() -> None:
    acc = ConntrackAccounting()
    acc.cycle(snap(A, acct=False), read_start=0, now_mono=0, now_wall=0)
    out = acc.cycle(snap(A, B, acct=False), read_start=1, now_mono=1, now_wall=1)
    assert out.flows.totals() == {"flows": 1, "packets": 0, "bytes": 0}
    assert list(out.nat.reply) == [False]


def test_ipv6_connections() -> None:
    e = Entry(6, "2001:db8:1::2", "2001:db8:2::1", "2001:db8:2::1", "2001:db8:1::2", 1, 2, 1, 80)
    acc = ConntrackAccounting()
    poll(acc, 0)
    out = poll(acc, 1, e.grown(rpk=1, rby=90))
    assert rows(out) == Counter(
        {
            ("2001:db8:1::2", "2001:db8:2::1", False, "1/80/1"): 1,
            ("2001:db8:2::1", "2001:db8:1::2", True, "1/90/1"): 1,
        }
    )


# -- conservation: whatever the order of polls and events, every byte is counted once --------


@st.composite
def scenarios(draw: st.DrawFn) -> list[tuple[str, int, int]]:
    """Steps: ("grow", conn, bytes), ("poll", 0, 0), ("end", conn, late)."""
    steps: list[tuple[str, int, int]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["grow", "grow", "poll", "end"]))
        steps.append((kind, draw(st.integers(0, 5)), draw(st.integers(1, 1000))))
    return steps


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_every_byte_counted_once(steps: list[tuple[str, int, int]]) -> None:
    """Connections grow, get polled and end; their DESTROY arrives before the next read, during
    it (the read still lists the entry) or after it (drained one poll late)."""
    acc = ConntrackAccounting(grace_polls=3)
    live: dict[int, Entry] = {}
    generation: dict[int, int] = {}
    ending: list[Entry] = []  # end while the next read runs
    pending: list[tuple[Entry, float]] = []  # (final entry, arrival) drained at the next poll
    late: list[Entry] = []  # ended before the next read; the event reaches us after its drain
    expected = counted = 0
    clock = 0.0
    poll(acc, clock)  # empty baseline: everything after it is counted
    for kind, conn, amount in steps:
        clock += 1.0
        if kind == "grow":
            if conn not in live:
                gen = generation.get(conn, 0) + 1
                generation[conn] = gen
                live[conn] = Entry(17, f"10.0.{conn}.{gen}", "192.0.2.1", "192.0.2.1", WAN, 9, 53)
            live[conn] = live[conn].grown(opk=1, oby=amount)
            expected += amount
        elif kind == "end" and conn in live:
            entry = live.pop(conn)
            if amount % 3 == 0:
                pending.append((entry, clock))
            elif amount % 3 == 1:
                ending.append(entry)
            else:
                late.append(entry)
        elif kind == "poll":
            listed = list(live.values()) + ending
            finals = [e.grown(opk=1, oby=7) for e in ending]  # a few more bytes, then the end
            expected += 7 * len(finals)
            events = [e for e, _ in pending] + finals
            arrivals = [t for _, t in pending] + [clock + 0.1] * len(finals)
            out = poll(acc, clock, *listed, destroyed=tuple(events), arrived=tuple(arrivals))
            counted += total_bytes(out)
            pending = [(e, clock + 0.2) for e in late]
            ending, late = [], []
    clock += 10
    pending += [(e, clock - 1) for e in [*ending, *late]]
    out = poll(
        acc, clock, *live.values(),
        destroyed=tuple(e for e, _ in pending), arrived=tuple(t for _, t in pending),
    )  # fmt: skip
    counted += total_bytes(out)
    assert counted == expected
