"""Fuzzing: mutated, truncated and random datagrams and captures never raise and are counted.

About 110k cases: hypothesis strategies per protocol plus a seeded NumPy loop of mutations over
the real corpus (the bulk), and every truncation point of the export captures.
"""

from __future__ import annotations

import bisect
import itertools
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafficatlas.errors import DecodeError
from trafficatlas.flowbatch import FlowBatch
from trafficatlas.sources.decode import DecoderSettings, FlowDecoder
from trafficatlas.sources.packets import read_capture

from flowbuild import (
    DATAGRAMS,
    NOW,
    corpus,
    data_set,
    ethernet,
    generic_if_counters,
    ip4,
    ipfix_message,
    ipfix_options_template_set,
    ipfix_template_set,
    ipv4,
    ipv6,
    read_pcap_packets,
    sflow_counter_sample,
    sflow_datagram,
    sflow_flow_sample,
    sflow_raw_header,
    tcp,
    varlen,
)

SAMPLES = [
    "basic-softflowd-v5",
    "basic-softflowd-v9",
    "basic-softflowd-v10",
    "basic-softflowd-ipfix-biflow",
    "basic-pmacct-nfprobe-v9",
    "basic-pmacct-nfprobe-v10",
]


def crafted() -> list[bytes]:
    """Datagrams exercising paths the corpus lacks (variable-length fields, v6, counters)."""
    fields = [(8, 4), (96, 0xFFFF), (12, 4), (1, 4), (2, 4), (5, 2, 9), (27, 16)]
    rec = (
        ip4("10.0.0.1")
        + varlen(b"abc")
        + ip4("10.0.0.2")
        + struct.pack(">II", 5, 1)
        + b"EE"
        + bytes(16)
    )
    opt = ipfix_options_template_set(400, 1, [(302, 4), (305, 4), (306, 4), (82, 0xFFFF)])
    v6 = ipv6("2001:db8::1", "2001:db8::2", 6, tcp(1, 2))
    frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(3, 4)), vlans=(5, 6))
    return [
        ipfix_message(
            [
                ipfix_template_set((256, fields)),
                opt,
                data_set(400, struct.pack(">III", 1, 1, 9) + varlen(b"eth0")),
                data_set(256, rec * 3),
            ]
        ),
        sflow_datagram(
            [
                sflow_flow_sample(8, [sflow_raw_header(v6, 80, 0, 12)], expanded=True),
                sflow_flow_sample(8, [sflow_raw_header(frame, 90)]),
                sflow_counter_sample([generic_if_counters(2, 5, 6)]),
            ]
        ),
    ]


POOL = (
    [d for s in SAMPLES for d in corpus(s)] + corpus("basic-pmacct-sfprobe-sflow5")[:20] + crafted()
)


def check(decoder: FlowDecoder, batch: FlowBatch) -> None:
    """The decoder survived: no internal error, a well-formed batch."""
    assert "internal" not in decoder.counters.errors
    n = len(batch)
    for name in FlowBatch.DTYPES:
        column = getattr(batch, name)
        assert column.shape == (n,), name
        assert column.dtype == FlowBatch.DTYPES[name], name


# --- hypothesis ------------------------------------------------------------------------------

HYPO = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PREFIXES = [
    b"\x00\x05",
    b"\x00\x09",
    b"\x00\x0a",
    b"\x00\x00\x00\x05\x00\x00\x00\x01",
    b"\x00\x00\x00\x05\x00\x00\x00\x02",
]


@HYPO
@given(st.sampled_from(PREFIXES), st.binary(max_size=1500))
def test_random_bodies_behind_valid_versions(prefix: bytes, body: bytes) -> None:
    dec = FlowDecoder()
    batch = dec.decode(prefix + body, "192.0.2.1", NOW)
    check(dec, batch)
    assert dec.counters.datagrams == 1


@HYPO
@given(
    st.sampled_from(range(len(POOL))),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8),
    st.integers(0, 2000),
)
def test_mutated_and_truncated_corpus(index: int, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(POOL[index])
    for pos, value in flips:
        data[pos % len(data)] = value
    dec = FlowDecoder()
    # the intact datagram first: mutated data then meets real templates
    batch = dec.decode_many(
        [(POOL[index], "192.0.2.1", NOW), (bytes(data[:cut]), "192.0.2.1", NOW)]
    )
    check(dec, batch)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([*SAMPLES, "basic-pmacct-sfprobe-sflow5"]),
    st.integers(0, 5000),
    st.binary(max_size=64),
)
def test_mutated_export_captures(
    tmp_path_factory: pytest.TempPathFactory, sample: str, at: int, junk: bytes
) -> None:
    data = bytearray((DATAGRAMS / f"{sample}.export.pcap").read_bytes())
    at %= len(data)
    data[at : at + len(junk)] = junk
    path = tmp_path_factory.mktemp("cap") / "m.pcap"
    path.write_bytes(bytes(data))
    try:
        result = read_capture(path)
    except DecodeError:
        return  # the magic number was hit: not a capture any more
    if result.decoder is not None:
        assert "internal" not in result.decoder.errors


# --- seeded bulk loop ------------------------------------------------------------------------


@pytest.mark.timeout(3600)
def test_hundred_thousand_mutations() -> None:
    """Bulk mutations; TRAFFICATLAS_FUZZ_CASES / _SEED make a longer or different run."""
    rng = np.random.default_rng(int(os.environ.get("TRAFFICATLAS_FUZZ_SEED", "20261122")))
    dec = FlowDecoder(DecoderSettings(pending_sets=16, max_templates=64))
    addresses = [f"192.0.2.{i}" for i in range(4)]
    cases = int(os.environ.get("TRAFFICATLAS_FUZZ_CASES", "100000")) // 500 * 500
    for start in range(0, cases, 500):
        batch_in = []
        for _ in range(500):
            data = bytearray(POOL[rng.integers(len(POOL))])
            for _ in range(rng.integers(0, 6)):
                data[rng.integers(len(data))] = rng.integers(256)
            if rng.random() < 0.3:
                data = data[: rng.integers(len(data) + 1)]
            elif rng.random() < 0.1:
                data += rng.bytes(int(rng.integers(1, 64)))
            batch_in.append((bytes(data), addresses[rng.integers(4)], NOW + start / 1000))
        check(dec, dec.decode_many(batch_in))
    c = dec.counters
    assert c.datagrams == cases
    assert c.total_errors() > 1000
    assert {"truncated", "bad_length", "bad_version"} <= set(c.errors)


def test_every_truncation_is_counted() -> None:
    """Cut v5, IPFIX and sFlow datagrams at every point: each cut is a counted error."""
    datagrams = (
        corpus("basic-softflowd-v5")
        + corpus("basic-pmacct-nfprobe-v10")
        + corpus("basic-softflowd-ipfix-biflow")
    )
    datagrams += corpus("basic-pmacct-sfprobe-sflow5")[:3]
    for datagram in datagrams:
        dec = FlowDecoder()
        dec.decode(datagram, "192.0.2.1", NOW)  # the templates
        before = dec.counters.total_errors()
        cuts = range(len(datagram))
        batch = dec.decode_many([(datagram[:cut], "192.0.2.1", NOW) for cut in cuts])
        check(dec, batch)
        assert dec.counters.total_errors() - before == len(cuts)


@pytest.mark.parametrize("sample", [*SAMPLES, "basic-pmacct-sfprobe-sflow5"])
def test_every_capture_truncation(tmp_path: Path, sample: str) -> None:
    """Complete packets are read, the cut one is counted (every cut of the small captures)."""
    source = DATAGRAMS / f"{sample}.export.pcap"
    data = source.read_bytes()
    _, packets = read_pcap_packets(source)
    ends = list(itertools.accumulate((16 + len(p[1]) for p in packets), initial=24))
    path = tmp_path / "cut.pcap"
    for cut in range(0, len(data), max(1, len(data) // 400)):
        path.write_bytes(data[:cut])
        if cut < 4:
            with pytest.raises(DecodeError):
                read_capture(path)
            continue
        result = read_capture(path)
        complete = bisect.bisect_right(ends, cut) - 1
        assert result.capture.packets == max(complete, 0)
        assert result.capture.truncated_records == (0 if cut in ends else 1)
        if result.decoder is not None:
            assert "internal" not in result.decoder.errors
