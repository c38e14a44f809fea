"""Counters of the conntrack source, with help text for the metrics exporter."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from trafficatlas.sources.conntrack_parse import ParseStats


@dataclass(slots=True)
class ConntrackMetrics:
    """Monotonic counters (``*_total`` style) and last-poll gauges of one ConntrackSource."""

    polls: int = 0
    poll_failures: int = 0
    poll_duration_s: float = 0.0  # gauge: the last poll (read + parse + delta)
    poll_duration_total_s: float = 0.0
    read_duration_s: float = 0.0  # gauge: the last raw read of the table
    entries: int = 0  # gauge: entries in the last snapshot
    tracked: int = 0  # gauge: connections held in the delta state
    deltas: int = 0
    flows_emitted: int = 0
    baseline: int = 0
    resets: int = 0
    events: int = 0
    destroyed: int = 0
    destroyed_unseen: int = 0
    events_before_baseline: int = 0
    vanished: int = 0
    stale_ignored: int = 0
    duplicates: int = 0
    event_restarts: int = 0
    event_overruns: int = 0
    parse: ParseStats = field(default_factory=ParseStats)

    HELP: ClassVar[dict[str, str]] = {
        "polls": "Polls of the conntrack table completed.",
        "poll_failures": "Polls that failed (table unreadable, conntrack command failed).",
        "poll_duration_s": "Seconds the last poll took (read, parse and delta accounting).",
        "poll_duration_total_s": "Seconds spent polling, summed over all polls.",
        "read_duration_s": "Seconds the last poll spent waiting for table data.",
        "entries": "Entries in the last conntrack snapshot.",
        "tracked": "Connections held in the delta-accounting state.",
        "deltas": "Connection counter deltas turned into flows (polls and DESTROY events).",
        "flows_emitted": "Unidirectional flow rows emitted.",
        "baseline": "Connections seen in the first poll: their earlier counters are not counted.",
        "resets": "Counters that went down or changed conntrack id: counted as new connections.",
        "events": "DESTROY events read from the event subscription.",
        "destroyed": "Connections whose final counters came from a DESTROY event.",
        "destroyed_unseen": "DESTROY events for connections no poll had seen (counted in full).",
        "events_before_baseline": "DESTROY events before the first poll finished (not counted).",
        "vanished": "Connections gone from the table without a DESTROY event (last bytes lost).",
        "stale_ignored": "Snapshot entries skipped because their DESTROY arrived during the read.",
        "duplicates": "Entries listed twice in one snapshot (the later one is kept).",
        "event_restarts": "Restarts of the conntrack event subscription process.",
        "event_overruns": "Times the kernel dropped events (ENOBUFS): final counters may be lost.",
    }

    def as_dict(self) -> dict[str, float]:
        """Flat name → value map; parse errors appear as ``parse_errors_<kind>``."""
        out: dict[str, float] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name != "parse"
        }
        for kind, count in self.parse.errors().items():
            out[f"parse_errors_{kind}"] = count
        out["parse_unknown_proto"] = self.parse.unknown_proto
        out["parse_lines"] = self.parse.lines
        return out
