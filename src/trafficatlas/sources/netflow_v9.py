"""NetFlow v9 (RFC 3954): walk a datagram's flowsets; templates are compiled, data queued."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from trafficatlas.sources.options import OptionsLayout
from trafficatlas.sources.state import BatchContext, ExporterState
from trafficatlas.sources.templates import V9_SCOPE, VARLEN, FieldSpec, data_layout

if TYPE_CHECKING:
    from trafficatlas.sources.exporters import ExporterTable

HEADER = struct.Struct(">HHIIII")
_HH = struct.Struct(">HH")
_HHH = struct.Struct(">HHH")


def scan_v9(
    dec: ExporterTable, data: bytes, exp: ExporterState, arrival: float, ctx: BatchContext
) -> None:
    """Register the templates of one v9 datagram and queue its data records."""
    size = len(data)
    if size < HEADER.size:
        dec.counters.error("truncated")
        return
    _, _count, uptime, secs, _seq, domain = HEADER.unpack_from(data)
    dg = ctx.add_datagram(exp, 9, domain, arrival, float(secs), uptime)
    off = HEADER.size
    unpack = _HH.unpack_from
    while size - off >= 4:
        sid, length = unpack(data, off)
        if length < 4:
            dec.counters.error("bad_length")
            return
        end = off + length
        if end > size:
            dec.counters.error("truncated")
            return
        if sid >= 256:
            dec.data_set(exp, (9, domain, sid), data, off + 4, end, dg, ctx)
        elif sid == 0:
            _templates(dec, data, off + 4, end, exp, domain, arrival, ctx)
        elif sid == 1:
            _options_templates(dec, data, off + 4, end, exp, domain, arrival, ctx)
        else:
            dec.counters.error("reserved_set")
        off = end


def _templates(
    dec: ExporterTable,
    data: bytes,
    off: int,
    stop: int,
    exp: ExporterState,
    domain: int,
    arrival: float,
    ctx: BatchContext,
) -> None:
    while stop - off >= 4:
        tid, count = _HH.unpack_from(data, off)
        if count == 0:
            return  # padding
        end = off + 4 + 4 * count
        if end > stop:
            dec.counters.error("truncated")
            return
        key = (9, domain, tid)
        if tid < 256:
            dec.counters.error("bad_template")
        elif not dec.refresh(exp, key, data, off, arrival, False):
            pairs = struct.unpack_from(f">{2 * count}H", data, off + 4)
            specs = tuple(FieldSpec(pairs[i], pairs[i + 1]) for i in range(0, 2 * count, 2))
            if any(s.length in (0, VARLEN) for s in specs):
                dec.counters.error("bad_template")
            else:
                dec.add_template(exp, key, data_layout(9, specs), data[off:end], arrival, ctx)
        off = end


def _options_templates(
    dec: ExporterTable,
    data: bytes,
    off: int,
    stop: int,
    exp: ExporterState,
    domain: int,
    arrival: float,
    ctx: BatchContext,
) -> None:
    while stop - off >= 6:
        tid, scope_len, opt_len = _HHH.unpack_from(data, off)
        if scope_len % 4 or opt_len % 4 or scope_len + opt_len == 0:
            if tid or scope_len or opt_len:
                dec.counters.error("bad_template")
            return
        end = off + 6 + scope_len + opt_len
        if end > stop:
            dec.counters.error("truncated")
            return
        key = (9, domain, tid)
        if tid < 256:
            dec.counters.error("bad_template")
        elif not dec.refresh(exp, key, data, off, arrival, True):
            n = (scope_len + opt_len) // 2
            pairs = struct.unpack_from(f">{n}H", data, off + 6)
            nscope = scope_len // 4
            specs = tuple(
                FieldSpec(pairs[i], pairs[i + 1], V9_SCOPE if i < 2 * nscope else 0)
                for i in range(0, n, 2)
            )
            if any(s.length in (0, VARLEN) for s in specs):
                dec.counters.error("bad_template")
            else:
                layout = OptionsLayout(9, specs, nscope)
                dec.add_template(exp, key, layout, data[off:end], arrival, ctx)
        off = end
