"""NetFlow v9 / IPFIX decoding from crafted datagrams: templates, options, sampling, times, fields."""

from __future__ import annotations

import struct

import pytest

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.sources.decode import DecoderSettings, ExporterInfo, FlowDecoder

from flowbuild import (
    NOW,
    data_set,
    flow_rows,
    ip4,
    ip6,
    ipfix_message,
    ipfix_options_template_set,
    ipfix_template_set,
    ipfix_withdrawal,
    v9_datagram,
    v9_options_template_set,
    v9_template_set,
    varlen,
)

EXP = "192.0.2.9"
# src, dst, sport, dport, proto, octets(8), packets(8), flowStart/EndMilliseconds
BASIC = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]


def basic_record(
    src: str = "198.51.100.1",
    dst: str = "203.0.113.5",
    sport: int = 1234,
    dport: int = 443,
    proto: int = 6,
    octets: int = 1500,
    packets: int = 3,
    start: float = NOW - 10,
    end: float = NOW - 5,
) -> bytes:
    return (
        ip4(src)
        + ip4(dst)
        + struct.pack(
            ">HHBQQQQ", sport, dport, proto, octets, packets, int(start * 1000), int(end * 1000)
        )
    )


def decode(
    *messages: bytes, settings: DecoderSettings | None = None, arrival: float = NOW
) -> tuple[FlowDecoder, FlowBatch]:
    dec = FlowDecoder(settings)
    return dec, dec.decode_many([(m, EXP, arrival) for m in messages])


def info_of(dec: FlowDecoder) -> ExporterInfo:
    info = dec.exporter_info(EXP)
    assert info is not None
    return info


def test_ipfix_record_columns() -> None:
    msg = ipfix_message([ipfix_template_set((256, BASIC)), data_set(256, basic_record())])
    dec = FlowDecoder()
    b = dec.decode(msg, EXP, NOW)
    assert flow_rows(b) == [(6, "198.51.100.1", 1234, "203.0.113.5", 443, 3, 1500)]
    assert b.ts_start[0] == pytest.approx(NOW - 10)
    assert b.ts[0] == pytest.approx(NOW - 5)
    assert b.exporter[0] == 1
    assert dec.counters.templates == 1
    assert dec.counters.flows == 1
    assert dec.counters.by_version == {"ipfix": 1}


def test_many_records_in_one_set_and_padding() -> None:
    records = b"".join(basic_record(sport=1000 + i, octets=i) for i in range(50))
    msg = ipfix_message([ipfix_template_set((256, BASIC)), data_set(256, records + b"\0\0\0")])
    dec = FlowDecoder()
    b = dec.decode(msg, EXP, NOW)
    assert len(b) == 50
    assert b.sport.tolist() == list(range(1000, 1050))
    assert int(b.bytes.sum()) == sum(range(50))
    assert dec.counters.total_errors() == 0


NTP = 2_208_988_800


def ntp(t: float) -> int:
    secs = int(t)
    return ((secs + NTP) << 32) | int((t - secs) * 2**32)


@pytest.mark.parametrize(
    ("time_fields", "values"),
    [
        ([(150, 4), (151, 4)], struct.pack(">II", int(NOW - 10), int(NOW - 5))),
        ([(152, 8), (153, 8)], struct.pack(">QQ", int((NOW - 10) * 1000), int((NOW - 5) * 1000))),
        ([(154, 8), (155, 8)], struct.pack(">QQ", ntp(NOW - 10), ntp(NOW - 5))),
        ([(156, 8), (157, 8)], struct.pack(">QQ", ntp(NOW - 10), ntp(NOW - 5))),
        ([(158, 4), (159, 4)], struct.pack(">II", 10_000_000, 5_000_000)),  # µs before export
        (
            [(160, 8), (22, 4), (21, 4)],
            struct.pack(">QII", int((NOW - 100) * 1000), 90_000, 95_000),
        ),
        ([(153, 8), (161, 4)], struct.pack(">QI", int((NOW - 5) * 1000), 5000)),
        ([(150, 4), (161, 4)], struct.pack(">II", int(NOW - 10), 5000)),
    ],
)
def test_ipfix_time_encodings(time_fields: list[tuple[int, int]], values: bytes) -> None:
    fields = [(8, 4), (12, 4), (4, 1), (2, 4), *time_fields]
    rec = ip4("198.51.100.1") + ip4("203.0.113.5") + b"\x11" + struct.pack(">I", 1) + values
    dec, b = decode(ipfix_message([ipfix_template_set((300, fields)), data_set(300, rec)]))
    assert b.ts_start[0] == pytest.approx(NOW - 10, abs=1e-3)
    assert b.ts[0] == pytest.approx(NOW - 5, abs=1e-3)
    assert dec.counters.implausible_timestamps == 0


def test_ipfix_sysuptime_uses_system_init_from_options() -> None:
    fields = [(8, 4), (12, 4), (2, 4), (22, 4), (21, 4)]
    rec = ip4("198.51.100.1") + ip4("203.0.113.5") + struct.pack(">III", 1, 90_000, 95_000)
    opt = ipfix_options_template_set(400, 1, [(149, 4), (160, 8)])
    opt_data = data_set(400, struct.pack(">IQ", 0, int((NOW - 100) * 1000)))
    tmpl = ipfix_template_set((300, fields))
    # data first, options after: the system init time is resolved when the batch is decoded
    dec, b = decode(ipfix_message([tmpl, data_set(300, rec), opt, opt_data]))
    assert b.ts_start[0] == pytest.approx(NOW - 10)
    assert dec.counters.options_records == 1
    assert dec.counters.implausible_timestamps == 0
    # without a system init time the uptimes mean nothing: arrival time, counted
    dec, b = decode(ipfix_message([tmpl, data_set(300, rec)]))
    assert b.ts[0] == NOW
    assert dec.counters.implausible_timestamps == 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (900_000_000.0, 900_000_001.0),  # before 2000
        (NOW - 5, NOW - 10),  # ends before it starts
        (NOW + 2 * 86400, NOW + 2 * 86400 + 1),  # two days in the future
    ],
)
def test_implausible_times_fall_back_to_arrival(start: float, end: float) -> None:
    msg = ipfix_message(
        [ipfix_template_set((256, BASIC)), data_set(256, basic_record(start=start, end=end))]
    )
    dec, b = decode(msg)
    assert dec.counters.implausible_timestamps == 1
    assert b.ts[0] == NOW
    assert b.ts_start[0] == NOW


def test_future_tolerance_setting() -> None:
    msg = ipfix_message(
        [ipfix_template_set((256, BASIC)), data_set(256, basic_record(start=NOW, end=NOW + 120))]
    )
    dec, _ = decode(msg)
    assert dec.counters.implausible_timestamps == 0
    dec, _ = decode(msg, settings=DecoderSettings(future_tolerance_s=60))
    assert dec.counters.implausible_timestamps == 1


def test_v9_uptime_wraparound() -> None:
    """sysUptime wrapped past 2^32 ms after the flow started: the flow is 3 s old, not 49 days."""
    fields = [(8, 4), (12, 4), (2, 4), (1, 4), (22, 4), (21, 4)]
    rec = (
        ip4("198.51.100.1")
        + ip4("203.0.113.5")
        + struct.pack(">IIII", 1, 40, 2**32 - 3000, 2**32 - 1000)
    )
    dg = v9_datagram(
        [v9_template_set((256, fields)), data_set(256, rec)], uptime=500, secs=int(NOW)
    )
    dec, b = decode(dg)
    assert b.ts_start[0] == pytest.approx(NOW - 3.5)
    assert b.ts[0] == pytest.approx(NOW - 1.5)
    assert dec.counters.implausible_timestamps == 0


def test_template_withdrawal() -> None:
    t256 = ipfix_template_set((256, BASIC))
    t257 = ipfix_template_set((257, BASIC))
    opt = ipfix_options_template_set(400, 1, [(149, 4), (34, 4)])
    dec = FlowDecoder()
    dec.decode(ipfix_message([t256, t257, opt]), EXP, NOW)
    dec.decode(ipfix_message([ipfix_withdrawal(256)]), EXP, NOW)
    assert dec.counters.templates_withdrawn == 1
    b = dec.decode(
        ipfix_message([data_set(256, basic_record()), data_set(257, basic_record())]), EXP, NOW
    )
    assert len(b) == 1  # 256 is gone (its set waits for a new template), 257 still decodes
    assert dec.counters.buffered_sets == 1
    # "all options templates" withdrawal leaves data templates alone
    dec.decode(ipfix_message([ipfix_withdrawal(3, options=True)]), EXP, NOW)
    assert info_of(dec).templates == 1
    # "all templates" withdrawal
    dec.decode(ipfix_message([ipfix_withdrawal(2)]), EXP, NOW)
    assert info_of(dec).templates == 0
    assert dec.counters.templates_withdrawn == 3
    dec.flush_pending()
    assert dec.counters.unknown_template == 1


def test_template_expiry() -> None:
    dec = FlowDecoder(DecoderSettings(template_timeout_s=60))
    dec.decode(ipfix_message([ipfix_template_set((256, BASIC))]), EXP, NOW)
    assert len(dec.decode(ipfix_message([data_set(256, basic_record())]), EXP, NOW + 30)) == 1
    # a refresh keeps it alive
    dec.decode(ipfix_message([ipfix_template_set((256, BASIC))]), EXP, NOW + 50)
    assert len(dec.decode(ipfix_message([data_set(256, basic_record())]), EXP, NOW + 100)) == 1
    assert dec.counters.templates_expired == 0
    b = dec.decode(ipfix_message([data_set(256, basic_record())]), EXP, NOW + 200)
    assert len(b) == 0
    assert dec.counters.templates_expired == 1
    assert dec.counters.buffered_sets == 1


def test_data_before_template_is_held_and_decoded() -> None:
    data = ipfix_message([data_set(256, basic_record())])
    tmpl = ipfix_message([ipfix_template_set((256, BASIC))])
    dec = FlowDecoder()
    assert len(dec.decode_many([(data, EXP, NOW), (data, EXP, NOW)])) == 0
    assert info_of(dec).pending_sets == 2
    b = dec.decode(tmpl, EXP, NOW + 1)
    assert len(b) == 2
    assert dec.counters.buffered_sets == 2
    assert dec.counters.unknown_template == 0
    # same batch: data then template
    dec2 = FlowDecoder()
    assert len(dec2.decode_many([(data, EXP, NOW), (tmpl, EXP, NOW)])) == 1


def test_held_sets_are_bounded_and_expire() -> None:
    data = ipfix_message([data_set(256, basic_record())])
    dec = FlowDecoder(DecoderSettings(pending_sets=2, pending_max_age_s=10))
    dec.decode_many([(data, EXP, NOW)] * 3)
    assert dec.counters.unknown_template == 1  # the oldest made room
    dec.decode_many([(data, "192.0.2.200", NOW + 30)])  # time passes: the sweep drops them
    assert dec.counters.unknown_template == 3
    assert info_of(dec).pending_sets == 0
    dec = FlowDecoder(DecoderSettings(pending_sets=0))
    dec.decode(data, EXP, NOW)
    assert dec.counters.unknown_template == 1


def test_options_sampling_rate_scales_exporter_flows() -> None:
    opt = ipfix_options_template_set(400, 1, [(149, 4), (34, 4)])
    msg = ipfix_message(
        [
            ipfix_template_set((256, BASIC)),
            opt,
            data_set(400, struct.pack(">II", 0, 100)),
            data_set(256, basic_record()),
        ]
    )
    dec, b = decode(msg)
    assert b.sampling_rate.tolist() == [100]
    assert b.bytes.tolist() == [150_000]
    assert b.packets.tolist() == [300]
    assert dec.counters.options_records == 1
    assert len(b) == 1


def test_sampler_selector_rates() -> None:
    # selectorId scope, samplingPacketInterval 1 of every 100 (interval 1, space 99)
    opt = ipfix_options_template_set(400, 1, [(302, 4), (305, 4), (306, 4)])
    opt_data = data_set(400, struct.pack(">III", 7, 1, 99))
    fields = [*BASIC, (302, 4)]
    recs = basic_record() + struct.pack(">I", 7) + basic_record() + struct.pack(">I", 8)
    msg = ipfix_message([ipfix_template_set((256, fields)), opt, opt_data, data_set(256, recs)])
    _, b = decode(msg, settings=DecoderSettings(default_sampling_rate=2))
    assert b.sampling_rate.tolist() == [100, 2]


def test_rate_in_record_default_and_override() -> None:
    fields = [*BASIC, (34, 4)]
    msg = ipfix_message(
        [ipfix_template_set((256, fields)), data_set(256, basic_record() + struct.pack(">I", 64))]
    )
    _, b = decode(msg)
    assert b.sampling_rate.tolist() == [64]
    _, b = decode(msg, settings=DecoderSettings(sampling_overrides={EXP: 5}))
    assert b.sampling_rate.tolist() == [5]
    assert b.bytes.tolist() == [7500]
    plain = ipfix_message([ipfix_template_set((256, BASIC)), data_set(256, basic_record())])
    _, b = decode(plain, settings=DecoderSettings(sampling_rates={EXP: 10}))
    assert b.sampling_rate.tolist() == [10]
    _, b = decode(plain, settings=DecoderSettings(sampling_rates={"192.0.2.1": 10}))
    assert b.sampling_rate.tolist() == [1]


def test_settings_reject_bad_rates() -> None:
    with pytest.raises(ValueError, match="sampling rate"):
        DecoderSettings(sampling_overrides={EXP: 0})


def test_v5_header_sampling_interval() -> None:
    head = struct.pack(">HHIIIIBBH", 5, 1, 10_000, int(NOW), 0, 1, 0, 0, (1 << 14) | 50)
    rec = ip4("198.51.100.1") + ip4("203.0.113.5") + bytes(4)
    rec += struct.pack(
        ">HHIIIIHHBBBBHHBBH", 1, 2, 3, 400, 5000, 9000, 40000, 443, 0, 0x12, 6, 0, 0, 0, 24, 24, 0
    )
    dec, b = decode(head + rec)
    assert flow_rows(b) == [(6, "198.51.100.1", 40000, "203.0.113.5", 443, 150, 20000)]
    assert b.in_if.tolist() == [1]
    assert b.ts_start[0] == pytest.approx(NOW - 5)
    assert b.tcp_flags.tolist() == [0x12]
    dec, b = decode(head[:2] + struct.pack(">H", 2) + head[4:] + rec)  # count says 2: truncated
    assert len(b) == 1
    assert dec.counters.errors == {"truncated": 1}


def test_enterprise_and_variable_length_fields() -> None:
    fields = [
        (8, 4),
        (96, 0xFFFF),
        (12, 4),
        (1, 4, 9),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 4),
        (2, 4),
        (5000, 0xFFFF, 9),
    ]
    tail = struct.pack(">HHBII", 1000, 53, 17, 80, 2)
    recs = [
        ip4("198.51.100.1") + varlen(b"dns") + ip4("203.0.113.5") + b"ENT!" + tail + varlen(b""),
        ip4("198.51.100.2")
        + varlen(b"x" * 300)
        + ip4("203.0.113.5")
        + b"ENT!"
        + tail
        + varlen(b"yy"),
    ]
    msg = ipfix_message([ipfix_template_set((256, fields)), data_set(256, b"".join(recs))])
    dec, b = decode(msg)
    assert flow_rows(b) == [
        (17, "198.51.100.1", 1000, "203.0.113.5", 53, 2, 80),
        (17, "198.51.100.2", 1000, "203.0.113.5", 53, 2, 80),
    ]
    assert dec.counters.total_errors() == 0
    # a record cut in its variable-length field (shorter leftovers would be padding)
    cut = ipfix_message([ipfix_template_set((256, fields)), data_set(256, recs[0] + recs[1][:40])])
    dec, b = decode(cut)
    assert len(b) == 1
    assert dec.counters.errors == {"truncated": 1}


def test_reduced_size_encoding() -> None:
    fields = [(8, 4), (12, 4), (4, 1), (1, 3), (2, 6), (10, 2)]
    rec = (
        ip4("198.51.100.1")
        + ip4("203.0.113.5")
        + b"\x06"
        + (70000).to_bytes(3, "big")
        + (5).to_bytes(6, "big")
        + b"\x00\x07"
    )
    _, b = decode(ipfix_message([ipfix_template_set((256, fields)), data_set(256, rec * 2)]))
    assert b.bytes.tolist() == [70000, 70000]
    assert b.packets.tolist() == [5, 5]
    assert b.in_if.tolist() == [7, 7]


def test_ipv6_and_icmp_type_code() -> None:
    fields = [(27, 16), (28, 16), (4, 1), (7, 2), (11, 2), (139, 2), (1, 4), (2, 4)]
    a, z = ip6("2001:db8::1"), ip6("2001:db8:ffff::2")
    recs = (
        a
        + z
        + struct.pack(">BHHHII", 58, 0, 0, 0x8000, 104, 1)
        + a
        + z
        + struct.pack(">BHHHII", 6, 5555, 443, 0, 60, 1)
    )
    _, b = decode(ipfix_message([ipfix_template_set((256, fields)), data_set(256, recs)]))
    assert flow_rows(b) == [
        (6, "2001:db8::1", 5555, "2001:db8:ffff::2", 443, 1, 60),
        (58, "2001:db8::1", 0, "2001:db8:ffff::2", 0x8000, 1, 104),
    ]
    assert set(b.ip_version.tolist()) == {6}


def test_mixed_family_template_and_mapped_addresses() -> None:
    fields = [(60, 1), (8, 4), (12, 4), (27, 16), (28, 16), (2, 4), (1, 4)]
    v4 = b"\x04" + ip4("198.51.100.1") + ip4("203.0.113.5") + bytes(32) + struct.pack(">II", 1, 40)
    v6 = b"\x06" + bytes(8) + ip6("2001:db8::1") + ip6("2001:db8::2") + struct.pack(">II", 1, 60)
    mapped = (
        b"\x06"
        + bytes(8)
        + ip6("::ffff:192.0.2.1")
        + ip6("::ffff:192.0.2.2")
        + struct.pack(">II", 1, 80)
    )
    _, b = decode(
        ipfix_message([ipfix_template_set((256, fields)), data_set(256, v4 + v6 + mapped)])
    )
    rows = {(r[1], r[3]) for r in flow_rows(b)}
    assert rows == {
        ("198.51.100.1", "203.0.113.5"),
        ("2001:db8::1", "2001:db8::2"),
        ("192.0.2.1", "192.0.2.2"),
    }
    assert sorted(b.ip_version.tolist()) == [4, 4, 6]


def test_records_without_addresses_are_not_flows() -> None:
    msg = ipfix_message(
        [ipfix_template_set((256, [(1, 4), (2, 4)])), data_set(256, struct.pack(">II", 1, 1))]
    )
    dec, b = decode(msg)
    assert len(b) == 0
    assert dec.counters.non_ip_records == 1


def test_template_redefined_within_a_batch() -> None:
    short = [(8, 4), (12, 4), (1, 4), (2, 4)]
    rec_a = basic_record(octets=111, packets=1)
    rec_b = ip4("192.0.2.1") + ip4("192.0.2.2") + struct.pack(">II", 222, 2)
    dec = FlowDecoder()
    b = dec.decode_many(
        [
            (ipfix_message([ipfix_template_set((256, BASIC)), data_set(256, rec_a)]), EXP, NOW),
            (ipfix_message([ipfix_template_set((256, short)), data_set(256, rec_b)]), EXP, NOW),
        ]
    )
    assert sorted(b.bytes.tolist()) == [111, 222]


def test_domains_keep_separate_templates() -> None:
    short = [(8, 4), (12, 4), (1, 4), (2, 4)]
    rec_b = ip4("192.0.2.1") + ip4("192.0.2.2") + struct.pack(">II", 222, 2)
    dec = FlowDecoder()
    dec.decode(ipfix_message([ipfix_template_set((256, BASIC))], domain=1), EXP, NOW)
    dec.decode(ipfix_message([ipfix_template_set((256, short))], domain=2), EXP, NOW)
    b = dec.decode_many(
        [
            (ipfix_message([data_set(256, basic_record(octets=111))], domain=1), EXP, NOW),
            (ipfix_message([data_set(256, rec_b)], domain=2), EXP, NOW),
        ]
    )
    assert sorted(b.bytes.tolist()) == [111, 222]


def test_bad_templates_are_counted() -> None:
    dec = FlowDecoder(DecoderSettings(max_templates=1))
    zero_len = v9_datagram([v9_template_set((256, [(8, 4), (12, 0)]))])
    low_id = v9_datagram([v9_template_set((12, [(8, 4)]))])
    no_scope = ipfix_message([ipfix_options_template_set(400, 0, [(34, 4)])])
    two = v9_datagram([v9_template_set((256, [(8, 4)]), (257, [(8, 4)]))])
    dec.decode_many(
        [(zero_len, EXP, NOW), (low_id, EXP, NOW), (no_scope, EXP, NOW), (two, EXP, NOW)]
    )
    assert dec.counters.errors == {"bad_template": 3, "template_limit": 1}


def test_v9_options_interface_names_and_sampler() -> None:
    names = v9_options_template_set(256, [(2, 4)], [(82, 8)])
    sampler = v9_options_template_set(257, [(1, 4)], [(48, 1), (49, 1), (50, 4)])
    data_tmpl = v9_template_set((300, [(8, 4), (12, 4), (10, 2), (48, 1), (1, 4), (2, 4)]))
    rec = ip4("198.51.100.1") + ip4("203.0.113.5") + struct.pack(">HBII", 3, 5, 100, 1)
    dg = v9_datagram([
        names, sampler, data_tmpl,
        data_set(256, struct.pack(">I", 3) + b"eth0\0\0\0\0" + struct.pack(">I", 4) + b"wan0\0\0\0\0"),
        data_set(257, struct.pack(">IBBI", 0, 5, 2, 1000)),
        data_set(300, rec),
    ])  # fmt: skip
    dec, b = decode(dg)
    info = dec.exporter_info(EXP)
    assert info is not None
    assert info.interface_names == {3: "eth0", 4: "wan0"}
    assert b.sampling_rate.tolist() == [1000]
    assert b.bytes.tolist() == [100_000]
    assert dec.counters.options_records == 3


def test_crafted_biflow_reverse_direction() -> None:
    fields = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (10, 4),
        (14, 4),
        (6, 1),
        (1, 4),
        (2, 4),
        (1, 4, 29305),
        (2, 4, 29305),
        (6, 1, 29305),
    ]
    rec = (
        ip4("10.0.0.1")
        + ip4("192.0.2.80")
        + struct.pack(">HHBIIBIIIIB", 5000, 80, 6, 1, 2, 0x02, 100, 2, 5000, 4, 0x12)
    )
    _, b = decode(ipfix_message([ipfix_template_set((256, fields)), data_set(256, rec)]))
    assert flow_rows(b) == [
        (6, "10.0.0.1", 5000, "192.0.2.80", 80, 2, 100),
        (6, "192.0.2.80", 80, "10.0.0.1", 5000, 4, 5000),
    ]
    assert b.tcp_flags.tolist() == [0x02, 0x12]
    assert b.in_if.tolist() == [1, 2]
    assert b.out_if.tolist() == [2, 1]
