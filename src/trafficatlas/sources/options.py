"""NetFlow v9 / IPFIX options templates and records.

Options records describe the exporter, not traffic: sampling rates (per exporter or per sampler),
interface names and the system init time that IPFIX uptime-relative timestamps need. They are
decoded one by one in Python (exporters send a few per minute) and never counted as flows.
"""

from __future__ import annotations

from trafficatlas.sources.state import ExporterState
from trafficatlas.sources.templates import V9_SCOPE, FieldSpec, read_varlen_records

OptionsRecord = dict[tuple[int, int], bytes]  # (enterprise, element) -> raw value

_MAX_RATE = 0xFFFF_FFFF
_MAX_ENTRIES = 65536  # bound per-exporter metadata against garbage input


class OptionsLayout:
    """A compiled options template (scope fields first, as on the wire)."""

    __slots__ = ("min_reclen", "scope_count", "specs", "version")

    def __init__(self, version: int, specs: tuple[FieldSpec, ...], scope_count: int) -> None:
        self.version = version
        self.specs = specs
        self.scope_count = scope_count
        self.min_reclen = sum(1 if s.length == 0xFFFF else s.length for s in specs)

    def records(self, data: bytes, start: int, stop: int) -> tuple[list[OptionsRecord], bool]:
        """Decode the options records between ``start`` and ``stop``; (records, truncated)."""
        rows, truncated = read_varlen_records(self.specs, data, start, stop, self.min_reclen)
        out: list[OptionsRecord] = []
        for values in rows:
            rec: OptionsRecord = {}
            for spec, value in zip(self.specs, values, strict=True):
                rec.setdefault((spec.enterprise, spec.element), value)
            out.append(rec)
        return out, truncated


def _uint(value: bytes | None) -> int:
    if not value or len(value) > 8:
        return 0
    return int.from_bytes(value, "big")


def sampling_rate(rec: OptionsRecord) -> int:
    """The packet sampling rate (1 in N) a record announces, or 0 if none."""
    for key in ((0, 34), (0, 50)):  # samplingInterval, samplerRandomInterval
        rate = _uint(rec.get(key))
        if rate > 0:
            return min(rate, _MAX_RATE)
    interval = _uint(rec.get((0, 305)))  # samplingPacketInterval / samplingPacketSpace
    if interval > 0:
        space = _uint(rec.get((0, 306)))
        return min(max(1, round((interval + space) / interval)), _MAX_RATE)
    size, population = _uint(rec.get((0, 309))), _uint(rec.get((0, 310)))
    if size > 0 and population > 0:
        return min(max(1, round(population / size)), _MAX_RATE)
    return 0


def apply_options(exporter: ExporterState, version: int, domain: int, rec: OptionsRecord) -> None:
    """Keep what an options record says about the exporter."""
    rate = sampling_rate(rec)
    sampler = rec.get((0, 302), rec.get((0, 48)))  # selectorId, samplerId / FLOW_SAMPLER_ID
    if rate:
        if sampler is not None:
            if len(exporter.sampler_rates) < _MAX_ENTRIES:
                exporter.sampler_rates[(version, domain, _uint(sampler))] = rate
        else:
            exporter.options_rates[(version, domain)] = rate
    init = rec.get((0, 160))  # systemInitTimeMilliseconds
    if init is not None and len(init) == 8:
        exporter.system_init_ms[(version, domain)] = _uint(init)
    name = rec.get((0, 82))  # interfaceName
    if name is not None:
        index = rec.get((V9_SCOPE, 2), rec.get((0, 10), rec.get((0, 14))))
        if index is not None and len(exporter.interface_names) < _MAX_ENTRIES:
            text = name.split(b"\0", 1)[0].decode("utf-8", "replace")
            exporter.interface_names[_uint(index)] = text
