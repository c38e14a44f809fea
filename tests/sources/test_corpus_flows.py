"""Every real exporter sample decodes to the ground truth (README of tests/fixtures/flows)."""

from __future__ import annotations

import numpy as np
import pytest

from trafficatlas.flowbatch import FlowBatch
from trafficatlas.sources.decode import DecoderSettings, FlowDecoder
from trafficatlas.sources.packets import read_capture
from trafficatlas.sources.state import DecoderCounters

from flowbuild import DATAGRAMS, NOW, FlowRow, corpus, flow_rows, read_truth

NETFLOW_SAMPLES = [
    "basic-softflowd-v5",
    "basic-softflowd-v9",
    "basic-softflowd-v10",
    "basic-softflowd-ipfix-biflow",
    "basic-pmacct-nfprobe-v9",
    "basic-pmacct-nfprobe-v10",
]
CAPTURE_START, CAPTURE_END = 1795305872.6, 1795305874.1  # first/last packet of basic-wan.pcap


def expected_rows(sample: str) -> list[FlowRow]:
    """The truth as each exporter can report it (README: what each exporter should yield)."""
    truth, _ = read_truth("basic-wan")
    out = []
    # pmacct exports no icmpTypeCode field but puts type*256+code in the destination port (the
    # README's "dport 0" is nfdump's display of the missing field): it equals the truth.
    for proto, src, sport, dst, dport, packets, nbytes in truth:
        if proto == 1 and dport == 0x0303 and "biflow" in sample:
            dport = 0  # softflowd puts 0 in reverseIcmpTypeCodeIPv4 (checked in the raw bytes)
        out.append((proto, src, sport, dst, dport, packets, nbytes))
    return sorted(out)


def decode_bins(
    sample: str, settings: DecoderSettings | None = None
) -> tuple[FlowBatch, DecoderCounters]:
    dec = FlowDecoder(settings)
    batch = dec.decode_many([(d, "127.0.0.1", NOW) for d in corpus(sample)])
    return batch, dec.counters


@pytest.mark.parametrize("sample", NETFLOW_SAMPLES)
def test_netflow_ipfix_sample_equals_truth(sample: str) -> None:
    _, totals = read_truth("basic-wan")
    batch, counters = decode_bins(sample)
    assert batch.totals() == totals
    assert flow_rows(batch) == expected_rows(sample)
    assert counters.total_errors() == 0
    assert counters.flows == totals["flows"]
    assert (batch.sampling_rate == 1).all()
    assert (batch.exporter == 1).all()
    assert set(batch.ip_version.tolist()) == {4}


@pytest.mark.parametrize("sample", NETFLOW_SAMPLES)
def test_export_pcap_gives_the_same_flows(sample: str) -> None:
    result = read_capture(DATAGRAMS / f"{sample}.export.pcap")
    assert result.kind == "flow_export"
    assert result.exporters == {1: "127.0.0.1"}
    assert result.packets.export_datagrams == len(corpus(sample))
    assert result.decoder is not None
    assert result.decoder.total_errors() == 0
    assert flow_rows(result.batch) == expected_rows(sample)
    assert result.batch.totals() == read_truth("basic-wan")[1]


@pytest.mark.parametrize(
    ("sample", "implausible"),
    [
        ("basic-softflowd-v5", 0),
        ("basic-softflowd-v9", 0),
        ("basic-softflowd-v10", 9),
        ("basic-softflowd-ipfix-biflow", 9),
        ("basic-pmacct-nfprobe-v9", 0),
        ("basic-pmacct-nfprobe-v10", 0),
    ],
)
def test_timestamps(sample: str, implausible: int) -> None:
    batch, counters = decode_bins(sample)
    assert counters.implausible_timestamps == implausible
    if implausible:
        # softflowd -r: IPFIX uptimes relative to systemInitTimeMilliseconds land in 2027.
        assert (batch.ts == NOW).all()
        assert (batch.ts_start == NOW).all()
    else:
        # v5/v9 sysUptime arithmetic modulo 2^32 recovers the capture's own times (v9: to the
        # second, its header has no sub-second export time).
        assert (batch.ts_start >= CAPTURE_START - 1).all()
        assert (batch.ts <= CAPTURE_END).all()
        assert (batch.ts >= batch.ts_start).all()


def test_v5_times_match_the_capture_exactly() -> None:
    batch, _ = decode_bins("basic-softflowd-v5")
    tcp = (batch.proto == 6) & (batch.sport == 43178)
    assert batch.ts_start[tcp][0] == pytest.approx(1795305872.605, abs=0.001)


@pytest.mark.parametrize("sample", ["basic-softflowd-v9", "basic-softflowd-v10"])
def test_options_records_are_metadata_not_flows(sample: str) -> None:
    dec = FlowDecoder()
    batch = dec.decode_many([(d, "127.0.0.1", NOW) for d in corpus(sample)])
    assert dec.counters.options_records == 1
    assert len(batch) == 9
    info = dec.exporter_info("127.0.0.1")
    assert info is not None
    assert list(info.options_sampling_rates.values()) == [1]
    if sample.endswith("v9"):
        assert info.interface_names == {0: "wan.pcap"}


def test_biflow_forward_and_reverse_make_the_truth() -> None:
    batch, _ = decode_bins("basic-softflowd-ipfix-biflow")
    # RFC 5103: 6 records; 5 carry forward counters, 4 carry reverse counters.
    assert len(batch) == 9
    reverse = batch.take((batch.proto == 6) & (batch.sport == 8080))
    assert sorted(reverse.packets.tolist()) == [145, 706]


def sflow_expected(byte_mode: str) -> list[FlowRow]:
    """README: 1300 samples, every packet except the last 4 (pings: 2 requests, 2 replies)."""
    truth, _ = read_truth("basic-wan")
    out = []
    for proto, src, sport, dst, dport, packets, nbytes in truth:
        if proto == 1 and dport in (0, 0x0800):
            packets, nbytes = 1, nbytes // 3
        if byte_mode == "frame_minus_stripped":
            nbytes += 14 * packets  # Ethernet header; no VLAN in this capture
        elif byte_mode == "frame":
            nbytes += 18 * packets  # pmacct reports frame_length with a 4-byte FCS, stripped=4
        out.append((proto, src, sport, dst, dport, packets, nbytes))
    return sorted(out)


@pytest.mark.parametrize(
    ("mode", "total_bytes"),
    [("frame_minus_stripped", 1_396_034), ("frame", 1_401_234), ("ip", 1_377_834)],
)
def test_sflow_sample_equals_truth(mode: str, total_bytes: int) -> None:
    batch, counters = decode_bins(
        "basic-pmacct-sfprobe-sflow5", DecoderSettings.model_validate({"sflow_bytes": mode})
    )
    assert batch.totals() == {"flows": 1300, "packets": 1300, "bytes": total_bytes}
    assert flow_rows(batch) == sflow_expected(mode)
    assert counters.sflow_samples == 1300
    assert counters.total_errors() == 0
    assert (batch.ts == NOW).all()


def test_sflow_export_pcap() -> None:
    result = read_capture(DATAGRAMS / "basic-pmacct-sfprobe-sflow5.export.pcap")
    assert result.kind == "flow_export"
    assert result.packets.export_datagrams == 205
    assert result.batch.totals() == {"flows": 1300, "packets": 1300, "bytes": 1_396_034}
    assert flow_rows(result.batch) == sflow_expected("frame_minus_stripped")
    # flows carry the capture's arrival times
    assert np.all((result.batch.ts > 1795306153) & (result.batch.ts < 1795306154))


def test_one_decoder_for_all_samples_keeps_them_apart() -> None:
    """Template ids collide across samples; distinct exporter addresses keep separate caches."""
    dec = FlowDecoder()
    stream = [
        (d, f"127.0.0.{i + 1}", NOW) for i, s in enumerate(NETFLOW_SAMPLES) for d in corpus(s)
    ]
    batch = dec.decode_many(stream)
    assert len(batch) == 9 * len(NETFLOW_SAMPLES)
    assert sorted(set(batch.exporter.tolist())) == list(range(1, len(NETFLOW_SAMPLES) + 1))
    assert dec.counters.total_errors() == 0
