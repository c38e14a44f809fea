import pytest

from trafficatlas.enrich.special import Label, SpecialRanges, label_name
from trafficatlas.net import parse_ips


@pytest.mark.parametrize(
    ("ip", "label"),
    [
        ("10.1.2.3", Label.PRIVATE),
        ("172.31.255.255", Label.PRIVATE),
        ("172.32.0.0", Label.PUBLIC),
        ("192.168.0.1", Label.PRIVATE),
        ("100.64.0.1", Label.SHARED),
        ("127.0.0.1", Label.LOOPBACK),
        ("169.254.9.9", Label.LINK_LOCAL),
        ("192.0.2.55", Label.DOCUMENTATION),
        ("198.51.100.1", Label.DOCUMENTATION),
        ("203.0.113.254", Label.DOCUMENTATION),
        ("224.0.0.251", Label.MULTICAST),
        ("255.255.255.255", Label.RESERVED),
        ("0.1.2.3", Label.RESERVED),
        ("8.8.8.8", Label.PUBLIC),
        ("::", Label.RESERVED),
        ("::1", Label.LOOPBACK),
        ("::2", Label.PUBLIC),
        ("fe80::1", Label.LINK_LOCAL),
        ("fd12:3456::1", Label.PRIVATE),
        ("ff02::1", Label.MULTICAST),
        ("2001:db8:ffff::1", Label.DOCUMENTATION),
        ("2001:4860:4860::8888", Label.PUBLIC),
        ("::ffff:10.0.0.1", Label.PRIVATE),  # IPv4-mapped is treated as IPv4
    ],
)
def test_labels(ip: str, label: Label) -> None:
    v, hi, lo = parse_ips([ip])
    assert SpecialRanges.build().classify(v, hi, lo)[0] == label


def test_exemptions_make_ranges_public() -> None:
    sr = SpecialRanges.build(["192.0.2.128/25", "2001:db8::/48", "::1/128"])
    v, hi, lo = parse_ips(["192.0.2.1", "192.0.2.200", "2001:db8::5", "2001:db8:1::5", "::1"])
    assert list(sr.classify(v, hi, lo)) == [
        Label.DOCUMENTATION,
        Label.PUBLIC,
        Label.PUBLIC,
        Label.DOCUMENTATION,
        Label.PUBLIC,
    ]


def test_label_names() -> None:
    assert label_name(0) is None
    assert label_name(Label.PRIVATE) == "PRIVATE"
