"""The `wg show all dump` parser over real output and bad lines."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trafficatlas.sources.wireguard_dump import parse_dump

FIXTURE = Path(__file__).parent.parent / "fixtures" / "wireguard" / "dump-two-interfaces.txt"
KEY_A = "+A7CuHuEVl+0y5uu3BCq9jwvXbRXX5LWOYeyHDnFel0="  # interface wgfxa's private key
PUB_A = "ZYwNreDDUxqBYD+2gZ0nctrCsUzLMU8rdg+jr/LJvgQ="
PUB_B = "dXV7C3TwWKOsKHL2mbSVgKu8PZ2AlT3UlUyhhOpK90w="
PUB_C = "Y3Brlmrio9VxF2sylcJF/HAOXOWBFQkHA8DZ0emgHmg="
PSK = "74Yysq4sOrB83VrO+N50ikgK83h/nmlFV2DoQhzCp+w="


def test_real_dump_of_two_wireguard_go_instances() -> None:
    dump = parse_dump(FIXTURE.read_text())
    assert dump.errors == {}
    assert dump.lines == 5
    assert [(i.name, i.public_key, i.listen_port, i.fwmark) for i in dump.interfaces] == [
        ("wgfxb", PUB_B, 51821, 0x42),
        ("wgfxa", PUB_A, 51820, 0),
    ]
    b_on_a, c_on_a = dump.peers[1], dump.peers[2]
    assert (b_on_a.interface, b_on_a.public_key) == ("wgfxa", PUB_B)
    assert b_on_a.endpoint is not None
    assert (b_on_a.endpoint.text, b_on_a.endpoint.address) == (
        "[2001:db8:51::2]:51821",
        "2001:db8:51::2",
    )
    assert (b_on_a.endpoint.version, b_on_a.endpoint.port) == (6, 51821)
    assert b_on_a.endpoint.hi << 64 | b_on_a.endpoint.lo == int(
        ipaddress.ip_address("2001:db8:51::2")
    )
    assert [str(n) for n in b_on_a.allowed_ips] == ["10.99.0.2/32", "fd99::2/128"]
    assert (b_on_a.latest_handshake, b_on_a.rx_bytes, b_on_a.tx_bytes) == (1795309059, 532, 476)
    assert b_on_a.keepalive_s == 0
    # a configured peer that never connected: no endpoint, no handshake, a preshared key
    assert (c_on_a.public_key, c_on_a.endpoint, c_on_a.latest_handshake) == (PUB_C, None, 0)
    assert (c_on_a.rx_bytes, c_on_a.tx_bytes, c_on_a.keepalive_s) == (0, 0, 25)
    a_on_b = dump.peers[0]
    assert a_on_b.endpoint is not None and a_on_b.endpoint.address == "2001:db8:51::1"
    # secrets are never kept
    assert KEY_A not in repr(dump)
    assert PSK not in repr(dump)


def test_ipv4_endpoint_scoped_v6_and_mapped() -> None:
    lines = [
        f"wg0\t{PUB_A}\t(none)\t198.51.100.7:4500\t(none)\t0\t1\t2\toff",
        f"wg0\t{PUB_B}\t(none)\t[fe80::1%eth0]:51820\t(none)\t0\t0\t0\toff",
        f"wg0\t{PUB_C}\t(none)\t[::ffff:203.0.113.9]:1\t0.0.0.0/0,::/0\t0\t0\t0\t65535",
    ]
    dump = parse_dump("\n".join(lines))
    assert dump.errors == {}
    v4, scoped, mapped = (p.endpoint for p in dump.peers)
    assert v4 is not None and (v4.version, v4.lo, v4.port) == (4, 0xC6336407, 4500)
    assert scoped is not None and (scoped.version, scoped.address) == (6, "fe80::1%eth0")
    assert mapped is not None and (mapped.version, mapped.lo) == (4, 0xCB007109)
    assert [n.prefixlen for n in dump.peers[2].allowed_ips] == [0, 0]


def test_bad_lines_are_counted_by_kind_and_good_lines_kept() -> None:
    good = f"wg0\t{PUB_A}\t(none)\t198.51.100.7:4500\t10.99.0.2/32\t1795309059\t10\t20\toff"

    def peer(**change: str) -> str:
        fields = good.split("\t")
        names = ["if", "key", "psk", "endpoint", "allowed", "hs", "rx", "tx", "ka"]
        for k, v in change.items():
            fields[names.index(k)] = v
        return "\t".join(fields)

    bad = [
        "garbage",
        good.replace("\t", " "),  # spaces, not tabs
        "\t".join(good.split("\t")[:8]),  # cut short
        peer(key="not-a-key"),
        peer(key=PUB_A[:-2]),
        peer(endpoint="2001:db8::1:51820"),  # IPv6 without brackets
        peer(endpoint="198.51.100.7:70000"),
        peer(endpoint="host.example:51820"),
        peer(endpoint="[198.51.100.7]:1"),
        peer(allowed="10.99.0.2/33"),
        peer(rx="-5"),
        peer(tx="1e6"),
        peer(tx="99999999999999999999999"),
        peer(hs=""),
        peer(ka="forever"),
        peer(**{"if": "an-interface-name-too-long"}),
        f"wg0\t(none)\t{PUB_A}\t99999\toff",  # listen port out of range
        f"wg0\t(none)\t{PUB_A}\t51820\tmark",
        "\x00\xff\t" * 8 + "x",
    ]
    dump = parse_dump("\n".join([good, *bad, "", "   ", good]))
    assert len(dump.peers) == 2
    assert dump.lines == 2 + len(bad)  # blank lines are not lines
    assert dump.error_count == len(bad)
    assert dump.errors == {
        "fields": 3,
        "key": 2,
        "endpoint": 4,
        "allowed_ips": 1,
        "counter": 3,
        "handshake": 1,
        "keepalive": 1,
        "interface": 2,
        "port": 1,
        "fwmark": 1,
    }


def test_empty_output() -> None:
    dump = parse_dump("")
    assert (dump.interfaces, dump.peers, dump.lines, dump.errors) == ([], [], 0, {})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab0/=:.[]%,\t ()-+x\x00é"), max_size=120)))
def test_random_text_never_raises(lines: list[str]) -> None:
    dump = parse_dump("\n".join(lines))
    assert dump.lines == len(dump.interfaces) + len(dump.peers) + dump.error_count
