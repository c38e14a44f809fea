"""sFlow v5 decoding from crafted datagrams: sample kinds, header parsing, counters, errors."""

from __future__ import annotations

import struct

import pytest

from trafficatlas.sources.decode import DecoderSettings, FlowDecoder

from flowbuild import (
    NOW,
    ethernet,
    flow_rows,
    generic_if_counters,
    icmp,
    ip4,
    ipv4,
    ipv6,
    sflow_counter_sample,
    sflow_datagram,
    sflow_flow_sample,
    sflow_raw_header,
    sflow_record,
    tcp,
    udp,
)

AGENT = "192.0.2.50"


def test_flow_sample_scaled_by_rate() -> None:
    frame = ethernet(
        ipv4("10.1.1.1", "192.0.2.80", 6, tcp(40000, 443, flags=0x10, payload=bytes(60)))
    )
    dg = sflow_datagram(
        [sflow_flow_sample(512, [sflow_raw_header(frame, len(frame) + 4)], in_if=7, out_if=9)]
    )
    dec = FlowDecoder()
    b = dec.decode(dg, AGENT, NOW)
    assert flow_rows(b) == [(6, "10.1.1.1", 40000, "192.0.2.80", 443, 512, 512 * len(frame))]
    assert b.sampling_rate.tolist() == [512]
    assert b.tcp_flags.tolist() == [0x10]
    assert (b.in_if.tolist(), b.out_if.tolist()) == ([7], [9])
    assert b.ts.tolist() == [NOW]
    info = dec.exporter_info(AGENT)
    assert info is not None
    assert info.sflow_agents == ["192.0.2.1"]


def test_expanded_samples_vlan_ipv6_icmp_and_ipv6_agent() -> None:
    qinq = ethernet(ipv4("10.1.1.2", "192.0.2.81", 17, udp(5000, 53, b"q" * 20)), vlans=(100, 200))
    v6 = ipv6("2001:db8::1", "2001:db8::2", 6, tcp(1111, 22))
    unreachable = ethernet(ipv4("192.0.2.1", "10.1.1.2", 1, icmp(3, 1)))
    samples = [
        sflow_flow_sample(10, [sflow_raw_header(qinq, len(qinq) + 4)], expanded=True),
        sflow_flow_sample(
            10, [sflow_raw_header(v6, len(v6), stripped=0, protocol=12)], expanded=True
        ),
        sflow_flow_sample(10, [sflow_raw_header(unreachable, 70, stripped=4)]),
    ]
    dec = FlowDecoder()
    b = dec.decode(sflow_datagram(samples, agent="2001:db8::50"), AGENT, NOW)
    assert flow_rows(b) == [
        (1, "192.0.2.1", 0, "10.1.1.2", 0x0301, 10, 660),
        (6, "2001:db8::1", 1111, "2001:db8::2", 22, 10, 10 * len(v6)),
        (17, "10.1.1.2", 5000, "192.0.2.81", 53, 10, 10 * len(qinq)),
    ]
    assert dec.exporter_info(AGENT).sflow_agents == ["2001:db8::50"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mode", "expected"), [("frame", 104), ("frame_minus_stripped", 100), ("ip", 86)]
)
def test_byte_modes(mode: str, expected: int) -> None:
    frame = ethernet(ipv4("10.1.1.1", "192.0.2.80", 17, udp(1, 2, bytes(58))))  # IP length 86
    dg = sflow_datagram([sflow_flow_sample(1, [sflow_raw_header(frame[:64], 104, stripped=4)])])
    b = FlowDecoder(DecoderSettings.model_validate({"sflow_bytes": mode})).decode(dg, AGENT, NOW)
    assert b.bytes.tolist() == [expected]


def test_sampled_ipv4_record_and_unknown_formats() -> None:
    sampled = sflow_record(
        3, struct.pack(">II4s4sIIII", 1500, 6, ip4("10.0.0.9"), ip4("192.0.2.9"), 3333, 80, 0x18, 0)
    )
    odd_record = sflow_record(2000, b"whatever")
    odd_sample = struct.pack(">II", (9 << 12) | 1, 8) + b"12345678"  # enterprise 9: skipped
    dg = sflow_datagram([odd_sample, sflow_flow_sample(4, [odd_record, sampled])])
    dec = FlowDecoder()
    b = dec.decode(dg, AGENT, NOW)
    assert flow_rows(b) == [(6, "10.0.0.9", 3333, "192.0.2.9", 80, 4, 6000)]
    assert dec.counters.total_errors() == 0


def test_counter_samples_are_kept_not_flows() -> None:
    dg = sflow_datagram([
        sflow_counter_sample([generic_if_counters(3, 10_000, 20_000), sflow_record(2, bytes(12))]),
        sflow_counter_sample([generic_if_counters(4, 1, 2)], expanded=True),
    ])  # fmt: skip
    dec = FlowDecoder()
    assert len(dec.decode(dg, AGENT, NOW)) == 0
    assert dec.counters.counter_samples == 2
    info = dec.exporter_info(AGENT)
    assert info is not None
    counters = info.sflow_interfaces[3]
    assert (counters.in_octets, counters.out_octets, counters.in_packets, counters.out_packets) == (
        10_000,
        20_000,
        12,
        24,
    )
    assert sorted(info.sflow_interfaces) == [3, 4]


def test_non_ip_samples_and_override() -> None:
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28)
    frame = ethernet(ipv4("10.1.1.1", "192.0.2.80", 17, udp(1, 2)))
    dg = sflow_datagram(
        [
            sflow_flow_sample(100, [sflow_raw_header(arp, 64)]),
            sflow_flow_sample(100, [sflow_raw_header(frame, 64)]),
        ]
    )
    dec = FlowDecoder(DecoderSettings(sampling_overrides={AGENT: 3}))
    b = dec.decode(dg, AGENT, NOW)
    assert len(b) == 1
    assert b.sampling_rate.tolist() == [3]
    assert b.packets.tolist() == [3]
    assert dec.counters.non_ip_records == 1


def test_truncated_and_malformed_datagrams_are_counted() -> None:
    frame = ethernet(ipv4("10.1.1.1", "192.0.2.80", 17, udp(1, 2)))
    good = sflow_datagram([sflow_flow_sample(1, [sflow_raw_header(frame, 64)])] * 3)
    dec = FlowDecoder()
    b = dec.decode_many([
        (good[:-10], AGENT, NOW),  # last sample cut
        (good[:20], AGENT, NOW),
        (good[:4] + struct.pack(">I", 7) + good[8:], AGENT, NOW),  # bad agent address type
        (good + b"\0\0\0\0", AGENT, NOW),  # trailing bytes
    ])  # fmt: skip
    assert len(b) == 2 + 3
    assert dec.counters.errors == {"truncated": 2, "bad_address": 1, "bad_length": 1}
