"""NetFlow v5: a fixed 24-byte header and 48-byte records, decoded as one fixed template."""

from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING

from trafficatlas.sources.state import BatchContext, ExporterState
from trafficatlas.sources.templates import DataLayout, FieldSpec, data_layout

if TYPE_CHECKING:
    from trafficatlas.sources.exporters import ExporterTable

HEADER = struct.Struct(">HHIIIIBBH")
RECORD_LEN = 48

# The v5 record expressed as v9 field types, so v5 shares the v9 decode (uptime-relative times).
_V5_FIELDS = (
    (8, 4), (12, 4), (15, 4), (10, 2), (14, 2), (2, 4), (1, 4), (22, 4), (21, 4), (7, 2),
    (11, 2), (210, 1), (6, 1), (4, 1), (5, 1), (16, 2), (17, 2), (9, 1), (13, 1), (210, 2),
)  # fmt: skip


@functools.cache
def v5_layout() -> DataLayout:
    """The compiled layout of a v5 record."""
    return data_layout(9, tuple(FieldSpec(e, n) for e, n in _V5_FIELDS))


def scan_v5(
    dec: ExporterTable, data: bytes, exp: ExporterState, arrival: float, ctx: BatchContext
) -> None:
    """Queue the records of one v5 datagram."""
    if len(data) < HEADER.size:
        dec.counters.error("truncated")
        return
    _, count, uptime, secs, nsecs, _seq, engine_type, engine_id, sampling = HEADER.unpack_from(data)
    if count == 0:
        dec.counters.error("bad_length")
        return
    complete = (len(data) - HEADER.size) // RECORD_LEN
    if count > complete:
        dec.counters.error("truncated")  # decode the records that did arrive
        count = complete
        if count == 0:
            return
    rate = sampling & 0x3FFF  # the top two bits are the sampling mode
    dg = ctx.add_datagram(
        exp, 5, (engine_type << 8) | engine_id, arrival, secs + nsecs / 1e9, uptime, rate
    )
    ctx.add_records(v5_layout(), data[HEADER.size : HEADER.size + count * RECORD_LEN], count, dg)
