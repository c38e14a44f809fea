"""The classify stage: NAT attribution, direction, remote labels, peers and WAN learning."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pydantic
import pytest

from trafficatlas.classify import (
    ClassifiedBatch,
    Classifier,
    ClassifySettings,
    LocalKind,
    NatAddresses,
    PrefixTable,
)
from trafficatlas.enrich.special import Label, SpecialRanges
from trafficatlas.flowbatch import Direction, FlowBatch
from trafficatlas.net import format_ip, parse_ip
from trafficatlas.sources.conntrack import ConntrackAccounting, ConntrackFlows, parse_conntrack

from support.conntrack_lines import Entry, proc_line

FIXTURES = Path(__file__).parent.parent / "fixtures" / "conntrack"
LAN = {"cidr": "10.77.0.0/16", "label": "lan"}


def conntrack_flows(*entries: Entry) -> ConntrackFlows:
    """Rows for new connections, as the conntrack source emits them."""
    acc = ConntrackAccounting()
    acc.cycle(parse_conntrack(b""), read_start=0, now_mono=0, now_wall=0)
    table = parse_conntrack("\n".join(proc_line(e) for e in entries).encode())
    return acc.cycle(table, read_start=1, now_mono=1, now_wall=1)


def flows(*rows: tuple[str, str]) -> FlowBatch:
    """A batch of (src, dst) rows, 100 bytes each."""
    parsed = [(parse_ip(s), parse_ip(d)) for s, d in rows]
    return FlowBatch.from_columns(
        len(rows),
        ip_version=[s[0] for s, _ in parsed],
        src_hi=[s[1] for s, _ in parsed],
        src_lo=[s[2] for s, _ in parsed],
        dst_hi=[d[1] for _, d in parsed],
        dst_lo=[d[2] for _, d in parsed],
        bytes=100,
        packets=1,
        proto=6,
    )


def view(c: ClassifiedBatch) -> list[tuple[str, str, str, str, str, int]]:
    """(direction, local, local kind, remote, remote label, owner) per row."""
    out = []
    for i in range(len(c)):
        v = int(c.remote_version[i])
        out.append(
            (
                Direction(int(c.flows.direction[i])).name,
                format_ip(v, int(c.local_hi[i]), int(c.local_lo[i])),
                LocalKind(int(c.local_kind[i])).name,
                format_ip(v, int(c.remote_hi[i]), int(c.remote_lo[i])),
                Label(int(c.remote_label[i])).name,
                int(c.owner_id[i]),
            )
        )
    return out


def test_nat_traffic_is_attributed_to_the_lan_client() -> None:
    data = (FIXTURES / "conntrack-samples.txt").read_bytes()
    lines = [line for line in data.split(b"\n") if line.startswith(b"ipv4")]
    acc = ConntrackAccounting()
    acc.cycle(parse_conntrack(b""), read_start=0, now_mono=0, now_wall=0)
    out = acc.cycle(parse_conntrack(b"\n".join(lines)), read_start=1, now_mono=1, now_wall=1)
    c = Classifier(ClassifySettings(local_networks=[LAN]))
    res = c.classify(out.flows, out.nat)
    rows = view(res)
    # the first /proc line: c1's download of ~1 MB from 198.51.100.10:8080
    download = [
        (r, int(res.flows.bytes[i]))
        for i, r in enumerate(rows)
        if r[0] == "INBOUND" and r[1] == "10.77.1.2" and int(res.flows.sport[i]) == 8080
    ]
    assert download == [
        (("INBOUND", "10.77.1.2", "LAN", "198.51.100.10", "DOCUMENTATION", 0), 1002241)
    ]
    assert {r[1] for r in rows} == {"10.77.1.2", "10.77.2.2"}  # never the WAN address
    assert {r[0] for r in rows} == {"OUTBOUND", "INBOUND"}
    assert not res.geolocate().any()  # documentation ranges are not looked up by default
    assert c.wan_addresses() == ["198.51.100.1"]
    # the input batch is not modified; the output has the direction filled
    assert not out.flows.direction.any()
    assert res.flows.bytes is out.flows.bytes


def test_learned_wan_classifies_post_nat_flows_of_other_sources() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN]))
    nat = conntrack_flows(
        Entry(17, "10.77.1.2", "192.0.2.9", "192.0.2.9", "198.51.100.1", 5, 53, 1, 60)
    )
    c.classify(nat.flows, nat.nat)
    # a NetFlow exporter on the WAN side sees only the WAN address
    res = c.classify(flows(("192.0.2.9", "198.51.100.1"), ("198.51.100.1", "192.0.2.9")))
    assert [r[:3] for r in view(res)] == [
        ("INBOUND", "198.51.100.1", "WAN"),
        ("OUTBOUND", "198.51.100.1", "WAN"),
    ]


def test_learned_wan_expires() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN], learned_wan_ttl_s=0.05))
    nat = conntrack_flows(
        Entry(17, "10.77.1.2", "192.0.2.9", "192.0.2.9", "198.51.100.1", 5, 53, 1, 60)
    )
    c.classify(nat.flows, nat.nat)
    assert c.wan_addresses() == ["198.51.100.1"]
    time.sleep(0.1)
    res = c.classify(flows(("192.0.2.9", "198.51.100.1")))
    assert c.wan_addresses() == []
    assert view(res)[0][0] == "UNKNOWN"


def test_inbound_to_a_declared_wan_address() -> None:
    special = SpecialRanges.build(exempt=["203.0.113.0/24"])  # as GeoIP lookup_reserved does
    c = Classifier(ClassifySettings(wan_addresses=["198.51.100.1"]), special=special)
    res = c.classify(flows(("203.0.113.50", "198.51.100.1")))
    assert view(res) == [("INBOUND", "198.51.100.1", "WAN", "203.0.113.50", "PUBLIC", 0)]
    assert list(res.geolocate()) == [True]


def test_port_forward_is_attributed_to_the_inside_server() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN]))
    fwd = Entry(
        6, "192.0.2.7", "198.51.100.1", "10.77.1.5", "192.0.2.7", 50000, 443, 3, 300, 2, 900
    )
    out = conntrack_flows(fwd)
    rows = view(c.classify(out.flows, out.nat))
    assert ("INBOUND", "10.77.1.5", "LAN", "192.0.2.7", "DOCUMENTATION", 0) in rows
    assert ("OUTBOUND", "10.77.1.5", "LAN", "192.0.2.7", "DOCUMENTATION", 0) in rows
    assert c.wan_addresses() == []  # DNAT does not teach a WAN address


def test_internal_traffic() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN, {"cidr": "10.8.0.0/24", "label": "vpn"}]))
    res = c.classify(flows(("10.8.0.2", "10.77.1.2"), ("10.77.1.2", "10.77.3.3")))
    assert view(res) == [
        ("INTERNAL", "10.8.0.2", "VPN", "10.77.1.2", "LOCAL", 0),
        ("INTERNAL", "10.77.1.2", "LAN", "10.77.3.3", "LOCAL", 0),
    ]
    assert not res.geolocate().any()


def test_ipv6_own_prefix_is_local_and_never_remote() -> None:
    special = SpecialRanges.build(exempt=["2001:db8:ffff::/48"])
    own = {"cidr": "2001:db8:1000::/48", "label": "own"}
    c = Classifier(ClassifySettings(local_networks=[own]), special=special)
    res = c.classify(
        flows(
            ("2001:db8:1000:5::10", "2001:db8:ffff::1"),
            ("2001:db8:ffff::1", "2001:db8:1000:5::10"),
            ("2001:db8:1000::1", "2001:db8:1000:7::7"),
        )
    )
    assert view(res) == [
        ("OUTBOUND", "2001:db8:1000:5::10", "OWN", "2001:db8:ffff::1", "PUBLIC", 0),
        ("INBOUND", "2001:db8:1000:5::10", "OWN", "2001:db8:ffff::1", "PUBLIC", 0),
        ("INTERNAL", "2001:db8:1000::1", "OWN", "2001:db8:1000:7::7", "LOCAL", 0),
    ]
    assert list(res.geolocate()) == [True, True, False]


def test_private_ranges_are_never_geolocated() -> None:
    nets = [
        {"cidr": "10.77.1.0/24", "label": "lan"},
        {"cidr": "2001:db8:1000::/48", "label": "own"},
    ]
    strict = Classifier(ClassifySettings(local_networks=nets, private_is_local=False))
    batch = flows(
        ("10.77.1.2", "172.16.5.5"),
        ("2001:db8:1000::1", "fd00::1"),
        ("10.77.1.2", "224.0.0.251"),
        ("169.254.1.1", "10.77.1.2"),
    )
    assert [r[0] + " " + r[4] for r in view(strict.classify(batch))] == [
        "OUTBOUND PRIVATE",
        "OUTBOUND PRIVATE",
        "OUTBOUND MULTICAST",
        "INBOUND LINK_LOCAL",
    ]
    assert not strict.classify(batch).geolocate().any()
    default = Classifier(ClassifySettings(local_networks=nets))
    assert [r[0] for r in view(default.classify(batch))] == ["INTERNAL"] * 4
    # nothing declared: private addresses alone make the site
    bare = Classifier(ClassifySettings())
    assert view(bare.classify(flows(("192.168.1.20", "192.0.2.1"))))[0][:3] == (
        "OUTBOUND",
        "192.168.1.20",
        "PRIVATE",
    )


def test_unknown_direction_for_transit() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN]))
    res = c.classify(flows(("192.0.2.1", "203.0.113.1")))
    assert view(res) == [("UNKNOWN", "192.0.2.1", "NONE", "203.0.113.1", "DOCUMENTATION", 0)]


def test_peer_prefixes_give_owner_ids() -> None:
    c = Classifier(ClassifySettings(local_networks=[{"cidr": "10.8.0.0/24", "label": "vpn"}]))
    c.set_peer_prefixes({"10.8.0.0/24": 9, "10.8.0.2/32": 5, "fd00:8::2/128": 6})
    res = c.classify(
        flows(
            ("10.8.0.2", "192.0.2.1"),
            ("192.0.2.1", "10.8.0.3"),
            ("fd00:8::2", "2001:db8::1"),
            ("192.0.2.1", "192.0.2.2"),
        )
    )
    assert list(res.owner_id) == [5, 9, 6, 0]
    c.set_peer_prefixes({"10.8.0.3": 11})
    assert list(c.classify(flows(("192.0.2.1", "10.8.0.3"))).owner_id) == [11]
    with pytest.raises(ValueError, match="peer id"):
        c.set_peer_prefixes({"10.8.0.4/32": 0})
    with pytest.raises(ValueError, match="not a CIDR"):
        c.set_peer_prefixes({"10.8.0.400/32": 3})


def test_without_nat_information() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN]))
    batch = flows(("10.77.1.2", "192.0.2.1"))
    res = c.classify(batch)
    assert view(res)[0][0] == "OUTBOUND"
    with pytest.raises(ValueError, match="length"):
        c.classify(batch, NatAddresses.untranslated(flows()))


def test_classified_batch_take_and_concat() -> None:
    c = Classifier(ClassifySettings(local_networks=[LAN]))
    res = c.classify(flows(("10.77.1.2", "192.0.2.1"), ("192.0.2.1", "10.77.1.2")))
    both = ClassifiedBatch.concat([res.take(np.array([1])), res.take(np.array([0]))])
    assert [r[0] for r in view(both)] == ["INBOUND", "OUTBOUND"]
    assert len(both.flows) == 2


def test_set_wan_addresses_at_run_time() -> None:
    c = Classifier(ClassifySettings(learn_wan_from_nat=False))
    batch = flows(("192.0.2.1", "198.51.100.77"))
    assert view(c.classify(batch))[0][0] == "UNKNOWN"
    c.set_wan_addresses(["198.51.100.77"])
    assert view(c.classify(batch))[0][:3] == ("INBOUND", "198.51.100.77", "WAN")
    assert c.wan_addresses() == ["198.51.100.77"]


def test_settings_are_validated() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a CIDR"):
        ClassifySettings(local_networks=[{"cidr": "10.0.0.0/33"}])
    with pytest.raises(pydantic.ValidationError):
        ClassifySettings(local_networks=[{"cidr": "10.0.0.0/8", "label": "office"}])
    with pytest.raises(pydantic.ValidationError, match="not a CIDR"):
        ClassifySettings(wan_addresses=["example"])
    assert ClassifySettings(wan_addresses=["192.0.2.1"]).wan_addresses == ["192.0.2.1/32"]


def test_prefix_table_most_specific_wins() -> None:
    table = PrefixTable(
        [
            ("10.0.0.0/8", 1),
            ("10.1.0.0/16", 2),
            ("10.1.2.0/24", 3),
            ("10.1.2.0/24", 4),  # same prefix again: the later one wins
            ("10.2.0.0/16", 5),
            ("192.0.2.0/24", 6),
            ("2001:db8::/32", 7),
            ("2001:db8:1::/48", 8),
            ("2001:db8:1::5/128", 9),
        ]
    )
    probes = [
        "10.0.0.1", "10.1.0.1", "10.1.2.3", "10.1.3.0", "10.2.255.255", "10.3.0.0", "11.0.0.0",
        "192.0.2.255", "9.255.255.255", "2001:db8::1", "2001:db8:1::4", "2001:db8:1::5",
        "2001:db8:1::6", "2001:db9::",
    ]  # fmt: skip
    parsed = [parse_ip(p) for p in probes]
    got = table.lookup(
        np.array([p[0] for p in parsed], np.uint8),
        np.array([p[1] for p in parsed], np.uint64),
        np.array([p[2] for p in parsed], np.uint64),
    )
    assert list(got) == [1, 2, 4, 2, 5, 1, -1, 6, -1, 7, 8, 9, 8, -1]
    assert len(PrefixTable()) == 0
    assert list(
        PrefixTable().lookup(
            np.array([4], np.uint8), np.zeros(1, np.uint64), np.zeros(1, np.uint64)
        )
    ) == [-1]
