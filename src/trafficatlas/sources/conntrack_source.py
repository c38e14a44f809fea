"""ConntrackSource: flows from the kernel's connection table, polled with DESTROY events.

Each poll reads the table (``/proc/net/nf_conntrack``, or ``conntrack -L`` where the file is
absent), drains the DESTROY events received since the last poll, and turns both into flow deltas
(see :mod:`trafficatlas.sources.conntrack_delta`). With a sink, :meth:`start` runs the polls in a
thread and hands every non-empty :class:`ConntrackFlows` to the sink.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from trafficatlas.errors import ConfigError, TrafficAtlasError
from trafficatlas.logging import get_logger
from trafficatlas.section import Section
from trafficatlas.sources.conntrack_delta import ConntrackAccounting, ConntrackFlows
from trafficatlas.sources.conntrack_io import (
    DestroyEvents,
    check_netns,
    enable_acct,
    proc_table_exists,
    read_acct,
    read_command_table,
    read_proc_table,
)
from trafficatlas.sources.conntrack_metrics import ConntrackMetrics
from trafficatlas.sources.conntrack_parse import ConntrackTable

log = get_logger("conntrack")

ENABLE_ACCT_HINT = "sysctl -w net.netfilter.nf_conntrack_acct=1"


class ConntrackSettings(Section):
    """Settings of the conntrack source."""

    enabled: bool = False
    poll_interval_s: float = Field(default=10.0, gt=0)
    proc_path: Path = Path("/proc/net/nf_conntrack")
    # Take final counters from DESTROY events (`conntrack -E`), so connections that end
    # between polls are counted in full.
    use_events: bool = True
    # Network namespace to read (a name under /run/netns, as for `ip netns exec`); None = ours.
    netns: str | None = None
    # Set net.netfilter.nf_conntrack_acct=1 when it is 0 (needs CAP_NET_ADMIN there).
    enable_acct: bool = False
    conntrack_command: str = "conntrack"
    command_timeout_s: float = Field(default=60.0, gt=0)
    event_buffer_bytes: int = Field(default=8 * 1024 * 1024, ge=65536)
    # Polls an unlisted entry is kept for (a late DESTROY event or a listing race).
    grace_polls: int = Field(default=1, ge=0)


Sink = Callable[[ConntrackFlows], None]


class ConntrackSource:
    """Polls conntrack and emits per-connection deltas as flow rows."""

    def __init__(
        self,
        settings: ConntrackSettings,
        sink: Sink | None = None,
        metrics: ConntrackMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics if metrics is not None else ConntrackMetrics()
        self.accounting = ConntrackAccounting(self.metrics, grace_polls=settings.grace_polls)
        self.acct: int | None = None
        self._use_proc = True
        self._events: DestroyEvents | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Check the setup, start the event subscription, take the baseline poll, then poll.

        Raises ConfigError when the namespace, the table or the conntrack command is unusable.
        """
        s = self.settings
        if s.netns is not None:
            check_netns(s.netns)
        self.check_acct()
        self._use_proc = proc_table_exists(s.proc_path, s.netns)
        if not self._use_proc:
            if shutil.which(s.conntrack_command) is None:
                raise ConfigError(
                    f"no conntrack table: {s.proc_path} is absent and the `{s.conntrack_command}`"
                    " command (Debian package conntrack) is not installed"
                )
            log.info("reading conntrack with the conntrack command", path=str(s.proc_path))
        if s.use_events and shutil.which(s.conntrack_command) is None:
            raise ConfigError(
                f"use_events needs the `{s.conntrack_command}` command (Debian package"
                " conntrack); install it or set use_events = false"
            )
        try:
            if s.use_events:
                self._events = DestroyEvents(
                    s.conntrack_command, s.netns, s.event_buffer_bytes, self._count_overrun
                )
                self._events.start()
            self.poll()  # the baseline: counters accumulated before start are not counted
        except BaseException:
            self.stop()
            raise
        if self.sink is not None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="conntrack-poll", daemon=True)
            self._thread.start()
        log.info("conntrack source started", netns=s.netns, events=s.use_events, acct=self.acct)

    def stop(self) -> None:
        """Stop polling and the event process; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.command_timeout_s + 5)
            self._thread = None
        if self._events is not None:
            self._events.stop()
            self._events = None

    @property
    def events_pid(self) -> int | None:
        """PID of the `conntrack -E` child, when running."""
        return self._events.pid if self._events is not None else None

    # -- accounting sysctl -------------------------------------------------------------------

    def check_acct(self) -> int | None:
        """Read nf_conntrack_acct; log how to enable it, and enable it when configured to."""
        s = self.settings
        self.acct = read_acct(s.netns)
        if self.acct == 0:
            if s.enable_acct and enable_acct(s.netns):
                self.acct = read_acct(s.netns)
                log.info(
                    "enabled conntrack byte accounting (connections opened before are not counted)",
                    netns=s.netns,
                )
            else:
                log.warning(
                    "conntrack byte accounting is off: flows will have no byte or packet counts",
                    netns=s.netns,
                    fix=ENABLE_ACCT_HINT
                    + (" (not permitted here)" if s.enable_acct else " or set enable_acct = true"),
                )
        return self.acct

    # -- polling -----------------------------------------------------------------------------

    def read_table(self) -> ConntrackTable:
        """One raw read and parse of the table (no accounting)."""
        s = self.settings
        if self._use_proc:
            try:
                return read_proc_table(s.proc_path, s.netns)
            except FileNotFoundError:
                self._use_proc = False
                log.warning("conntrack table file vanished; using the conntrack command")
            except OSError as exc:
                raise ConfigError(f"cannot read {s.proc_path}: {exc.strerror}") from None
        return read_command_table(s.conntrack_command, s.netns, s.command_timeout_s)

    def poll(self) -> ConntrackFlows:
        """One poll cycle: read, drain events, account; returns the flow rows."""
        with self._lock:
            t0 = time.monotonic()
            snapshot = self.read_table()
            read_s = time.monotonic() - t0
            events: ConntrackTable | None = None
            arrivals = None
            if self._events is not None:
                try:
                    if self._events.ensure_running():
                        self.metrics.event_restarts += 1
                except ConfigError as exc:  # retried at the next poll; the table still counts
                    self.metrics.event_restarts += 1
                    log.warning("cannot restart the conntrack event process", error=str(exc))
                events, arrivals = self._events.drain()
                self.metrics.parse.add(events.stats)
            self.metrics.parse.add(snapshot.stats)
            out = self.accounting.cycle(
                snapshot,
                read_start=t0,
                now_mono=time.monotonic(),
                now_wall=time.time(),
                events=events,
                arrivals=arrivals,
            )
            took = time.monotonic() - t0
            m = self.metrics
            m.polls += 1
            m.read_duration_s = read_s
            m.poll_duration_s = took
            m.poll_duration_total_s += took
            return out

    def _run(self) -> None:
        while not self._stop.wait(self.settings.poll_interval_s):
            try:
                out = self.poll()
            except TrafficAtlasError as exc:
                self.metrics.poll_failures += 1
                log.warning("conntrack poll failed", error=str(exc))
                continue
            except Exception:  # a bug: keep polling, but say so loudly
                self.metrics.poll_failures += 1
                log.exception("conntrack poll crashed")
                continue
            if len(out) and self.sink is not None:
                self.sink(out)

    def _count_overrun(self) -> None:
        self.metrics.event_overruns += 1
