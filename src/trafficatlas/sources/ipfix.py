"""IPFIX (RFC 7011): messages, template and options template sets, withdrawals, data sets."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from trafficatlas.sources.options import OptionsLayout
from trafficatlas.sources.state import BatchContext, ExporterState
from trafficatlas.sources.templates import FieldSpec, data_layout

if TYPE_CHECKING:
    from trafficatlas.sources.exporters import ExporterTable

HEADER = struct.Struct(">HHIII")
_HH = struct.Struct(">HH")
_HHH = struct.Struct(">HHH")
_I = struct.Struct(">I")
TEMPLATE_SET = 2
OPTIONS_SET = 3


def scan_ipfix(
    dec: ExporterTable, data: bytes, exp: ExporterState, arrival: float, ctx: BatchContext
) -> None:
    """Register the templates of one IPFIX message and queue its data records."""
    size = len(data)
    if size < HEADER.size:
        dec.counters.error("truncated")
        return
    _, length, export_time, _seq, domain = HEADER.unpack_from(data)
    if length < HEADER.size:
        dec.counters.error("bad_length")
        return
    truncated = length > size
    if truncated:
        dec.counters.error("truncated")  # decode the complete sets that did arrive
    else:
        size = length
    dg = ctx.add_datagram(exp, 10, domain, arrival, float(export_time), 0)
    off = HEADER.size
    unpack = _HH.unpack_from
    while size - off >= 4:
        sid, slen = unpack(data, off)
        if slen < 4:
            dec.counters.error("bad_length")
            return
        end = off + slen
        if end > size:
            if not truncated:
                dec.counters.error("truncated")
            return
        if sid >= 256:
            dec.data_set(exp, (10, domain, sid), data, off + 4, end, dg, ctx)
        elif sid in (TEMPLATE_SET, OPTIONS_SET):
            _templates(dec, data, off + 4, end, exp, domain, arrival, ctx, sid)
        else:
            dec.counters.error("reserved_set")
        off = end
    if off != size and not truncated:
        dec.counters.error("bad_length")


def _fields(
    data: bytes, off: int, stop: int, count: int
) -> tuple[tuple[FieldSpec, ...], int] | None:
    """Parse ``count`` field specifiers at ``off``; (specs, end) or None when truncated."""
    specs: list[FieldSpec] = []
    for _ in range(count):
        if off + 4 > stop:
            return None
        element, length = _HH.unpack_from(data, off)
        off += 4
        enterprise = 0
        if element & 0x8000:
            if off + 4 > stop:
                return None
            enterprise = _I.unpack_from(data, off)[0]
            element &= 0x7FFF
            off += 4
        specs.append(FieldSpec(element, length, enterprise))
    return tuple(specs), off


def _templates(
    dec: ExporterTable,
    data: bytes,
    off: int,
    stop: int,
    exp: ExporterState,
    domain: int,
    arrival: float,
    ctx: BatchContext,
    set_id: int,
) -> None:
    options = set_id == OPTIONS_SET
    while stop - off >= 4:
        tid, count = _HH.unpack_from(data, off)
        if count == 0:
            if tid == 0 and not any(data[off:stop]):
                return  # padding
            if tid == set_id:  # RFC 7011 §8.1: all (options) templates withdrawal
                dec.withdraw(exp, 10, domain, None, options)
            elif tid >= 256:
                dec.withdraw(exp, 10, domain, tid, options)
            else:
                dec.counters.error("bad_template")
            off += 4
            continue
        if tid < 256:
            dec.counters.error("bad_template")
            return  # the record's length is unknown: the rest of the set cannot be trusted
        key = (10, domain, tid)
        new_off = dec.refresh(exp, key, data, off, arrival, options)
        if new_off:
            off = new_off
            continue
        head = 6 if options else 4
        if off + head > stop:
            dec.counters.error("truncated")
            return
        scope = _HHH.unpack_from(data, off)[2] if options else 0
        parsed = _fields(data, off + head, stop, count)
        if parsed is None:
            dec.counters.error("truncated")
            return
        specs, end = parsed
        if any(s.length == 0 for s in specs) or (options and not 0 < scope <= count):
            dec.counters.error("bad_template")
        elif options:
            dec.add_template(exp, key, OptionsLayout(10, specs, scope), data[off:end], arrival, ctx)
        else:
            dec.add_template(exp, key, data_layout(10, specs), data[off:end], arrival, ctx)
        off = end
