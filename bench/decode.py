"""Micro-benchmark: FlowDecoder.decode_many over NetFlow v9 / IPFIX datagrams from the corpus.

Usage: uv run python bench/decode.py [--exporters 1000] [--seconds 3] [--batch 1024]

Two workloads, both from the real exporter samples in tests/fixtures/flows/datagrams
(softflowd v9/IPFIX/biflow, pmacct nfprobe v9/IPFIX):

- corpus: the datagrams exactly as recorded (1-9 flows each, templates in most of them),
  replayed by ``--exporters`` exporters per sample (each sample has its own addresses: the
  samples reuse template ids with different definitions).
- full: MTU-sized datagrams (≈1400 bytes) as routers send them under load: each corpus data set
  replicated to fill the datagram, with the IPv4 addresses of every record varied; the corpus
  datagrams (with the templates) are sent first by every exporter.

Prints one line per workload and a final JSON line
{"corpus_flows_per_s", "corpus_datagrams_per_s", "full_flows_per_s", "full_datagrams_per_s"}.
"""

from __future__ import annotations

import argparse
import json
import struct
import time
from pathlib import Path

import numpy as np

from trafficatlas.sources.decode import Datagram, FlowDecoder
from trafficatlas.sources.templates import DataLayout

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "flows" / "datagrams"
SAMPLES = (
    "basic-softflowd-v9",
    "basic-softflowd-v10",
    "basic-softflowd-ipfix-biflow",
    "basic-pmacct-nfprobe-v9",
    "basic-pmacct-nfprobe-v10",
)
MTU_PAYLOAD = 1400


def corpus() -> list[list[bytes]]:
    """The datagrams of each v9/IPFIX sample, in order."""
    return [[p.read_bytes() for p in sorted((CORPUS / s).glob("*.bin"))] for s in SAMPLES]


def exporter_address(sample: int, i: int) -> str:
    return f"10.{sample}.{(i >> 8) & 255}.{i & 255}"


def _data_sets(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(version, domain, set id, payload) of every data set of a v9/IPFIX datagram."""
    version = struct.unpack_from(">H", data)[0]
    off, domain = (20, struct.unpack_from(">I", data, 16)[0]) if version == 9 else (16, 0)
    if version == 10:
        domain = struct.unpack_from(">I", data, 12)[0]
    out = []
    while off + 4 <= len(data):
        sid, length = struct.unpack_from(">HH", data, off)
        if length < 4:
            break
        if sid >= 256:
            out.append((version, domain, sid, data[off + 4 : off + length]))
        off += length
    return out


def full_datagrams(samples: list[list[bytes]], rng: np.random.Generator) -> list[tuple[int, bytes]]:
    """(sample index, datagram): data-only MTU-sized datagrams, record addresses varied."""
    out: list[tuple[int, bytes]] = []
    for k, datagrams in enumerate(samples):
        dec = FlowDecoder()
        dec.decode_many([(d, "x", time.time()) for d in datagrams])
        templates = dec.exporters.get("x").templates
        for data in datagrams:
            for version, domain, sid, payload in _data_sets(data):
                entry = templates.get((version, domain, sid))
                layout = entry.layout if entry else None
                if not isinstance(layout, DataLayout) or layout.reclen == 0:
                    continue  # options data
                reclen = layout.reclen
                records = np.frombuffer(payload[: len(payload) // reclen * reclen], np.uint8)
                records = records.reshape(-1, reclen)
                n = (MTU_PAYLOAD - 24) // reclen
                rows = records[np.arange(n) % len(records)].copy()
                for key in ("src4", "dst4"):
                    if key in layout.keys:
                        at = layout.dtype.fields[key][1]
                        addr = rng.integers(1, 2**32 - 1, n, dtype=np.uint32).astype(">u4")
                        rows[:, at : at + 4] = addr.view(np.uint8).reshape(n, 4)
                body = struct.pack(">HH", sid, 4 + rows.size) + rows.tobytes()
                now = int(time.time())
                if version == 9:
                    head = struct.pack(">HHIIII", 9, n, 0, now, 0, domain)
                else:
                    head = struct.pack(">HHIII", 10, 16 + len(body), now, 0, domain)
                out.append((k, head + body))
    return out


def run(
    decoder: FlowDecoder, stream: list[Datagram], batch: int, seconds: float
) -> tuple[float, float]:
    """(flows/s, datagrams/s) decoding ``stream`` in batches, repeated for about ``seconds``."""
    flows = datagrams = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(0, len(stream), batch):
            part = stream[i : i + batch]
            flows += len(decoder.decode_many(part))
            datagrams += len(part)
    elapsed = time.perf_counter() - start
    return flows / elapsed, datagrams / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exporters", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    samples = corpus()
    now = time.time()
    result: dict[str, float] = {}

    stream: list[Datagram] = [
        (d, exporter_address(k, e), now)
        for e in range(args.exporters)
        for k, s in enumerate(samples)
        for d in s
    ]
    decoder = FlowDecoder()
    fps, dps = run(decoder, stream, args.batch, args.seconds)
    assert decoder.counters.total_errors() == 0, decoder.counters.errors
    print(f"corpus: {fps:,.0f} flows/s, {dps:,.0f} datagrams/s ({len(stream)} datagrams/round)")
    result["corpus_flows_per_s"], result["corpus_datagrams_per_s"] = round(fps), round(dps)

    decoder = FlowDecoder()
    decoder.decode_many(stream)  # every exporter announces its templates first
    data = full_datagrams(samples, rng)
    stream = [(d, exporter_address(k, e), now) for e in range(args.exporters) for k, d in data]
    fps, dps = run(decoder, stream, args.batch, args.seconds)
    assert decoder.counters.total_errors() == 0, decoder.counters.errors
    per = fps / dps if dps else 0.0
    print(f"full:   {fps:,.0f} flows/s, {dps:,.0f} datagrams/s ({per:.1f} flows/datagram)")
    result["full_flows_per_s"], result["full_datagrams_per_s"] = round(fps), round(dps)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
